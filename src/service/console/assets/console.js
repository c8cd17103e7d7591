// The console's one script: the changes a page makes through the API (with the session's CSRF
// token), and the results of uploads in words. Pages work by links and forms; this only adds
// what needs no reload. No inline script anywhere: the Content-Security-Policy forbids it.
'use strict';

const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? '';

/** A call of the API as the logged-in key: {ok, status, data, message}. */
async function api(method, path, body, type) {
  const headers = { 'X-CSRF-Token': csrf };
  if (type) headers['Content-Type'] = type;
  let response;
  try {
    response = await fetch(path, { method, headers, body, credentials: 'same-origin' });
  } catch (e) {
    return { ok: false, status: 0, data: null, message: `the server cannot be reached (${e})` };
  }
  const text = await response.text();
  let data = null;
  try { data = JSON.parse(text); } catch (_) { /* not JSON: the text says it */ }
  const message = data?.error?.message ?? (response.ok ? '' : `${response.status} ${text}`);
  return { ok: response.ok, status: response.status, data, message };
}

/** Shows `text` in the page's status line, as a success or a problem. */
function say(text, ok) {
  const line = document.getElementById('status');
  if (!line) return;
  line.textContent = text;
  line.className = ok ? 'done' : 'problem';
  line.hidden = false;
  line.focus();
}

/** Says `text`, a success, with a link to the page of `name` (person `id`): the status line. */
function sayEnrolled(text, id, name) {
  say(text, true);
  const link = document.createElement('a');
  link.href = `/people/${id}`;
  link.textContent = `${name}'s page`;
  const status = document.getElementById('status');
  status.append(link);
  return status;
}

/** The photos of an upload form, one after another, each with its result in words. */
async function upload(form, personId) {
  const input = form.querySelector('input[type=file]');
  const list = form.querySelector('.results');
  list.replaceChildren();
  let added = 0;
  for (const file of input.files) {
    const item = document.createElement('li');
    item.textContent = `${file.name}: checking…`;
    list.append(item);
    const type = file.type === 'image/png' ? 'image/png' : 'image/jpeg';
    const answer = await api('POST', `/v1/people/${personId}/faces`, file, type);
    if (answer.ok) {
      added += 1;
      const pose = answer.data.face.pose ? ` (${answer.data.face.pose})` : '';
      const warnings = answer.data.warnings.length ? `; ${answer.data.warnings.join('; ')}` : '';
      item.textContent = `${file.name}: enrolled${pose}${warnings}`;
      item.className = 'accepted';
    } else {
      item.textContent = `${file.name}: ${answer.message.replace(/^the photo was not enrolled: /, 'not enrolled: ')}`;
      item.className = 'refused';
    }
  }
  return added;
}

/** Lets photos be dropped on an upload form's drop zone. */
function dropZone(form) {
  const zone = form.querySelector('.drop');
  const input = form.querySelector('input[type=file]');
  if (!zone || !input) return;
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    input.files = e.dataTransfer.files;
    input.dispatchEvent(new Event('change'));
  });
  input.addEventListener('change', () => {
    const count = input.files.length;
    zone.querySelector('.chosen').textContent = count ? `${count} photo(s) chosen` : '';
  });
}

/** Enrolls the visitor of `form` as `who` ({name} or {person_id}); says what was taken and
 *  what was not, and takes the group off the page. */
async function enrollVisitor(form, who, name) {
  const visitor = form.dataset.visitor;
  const answer = await api('POST', `/v1/visitors/${visitor}/enroll`, JSON.stringify(who), 'application/json');
  if (!answer.ok) return say(`Visitor ${visitor} was not enrolled: ${answer.message}`, false);
  const done = answer.data;
  const status = sayEnrolled(`Visitor ${visitor} is now ${name}: ${done.faces.length} face(s) ` +
    `added, ${done.sightings_named} sighting(s) named. `, done.person_id, name);
  const notes = [...done.not_taken.map((n) => `Not taken: ${n}`), ...done.warnings];
  if (notes.length) {
    const list = document.createElement('ul');
    for (const note of notes) {
      const item = document.createElement('li');
      item.textContent = note;
      list.append(item);
    }
    status.append(list);
  }
  leaves(form.closest('.visitor'));
}

/** Somebody enrolled, picked by `name` from the page's list `list`: {id, name, faces}, or
 *  undefined when nobody on the list is called that. */
function enrolled(name, list) {
  const option = [...document.querySelectorAll(`#${list} option`)].find((o) => o.value === name.trim());
  return option && { id: Number(option.dataset.id), name: option.value, faces: Number(option.dataset.faces) };
}

/** Takes a visitor's card off the page and counts those left. */
function leaves(card) {
  card.remove();
  const left = document.querySelectorAll('.visitor').length;
  document.getElementById('count').textContent = left === 1 ? '1 visitor left.' : `${left} visitors left.`;
}

const handlers = {
  // Enroll a new person from photos: made first, removed again if no photo was taken.
  async enroll(form) {
    const name = form.elements.name.value.trim();
    const made = await api('POST', '/v1/people', JSON.stringify({ name }), 'application/json');
    if (!made.ok) return say(made.message, false);
    const id = made.data.id;
    const added = await upload(form, id);
    if (added === 0) {
      await api('DELETE', `/v1/people/${id}`);
      return say(`${name} was not enrolled: no photo passed (the reasons are listed below).`, false);
    }
    sayEnrolled(`${name} is enrolled with ${added} face(s). `, id, name);
  },
  // Add photos to a person.
  async addPhotos(form) {
    const added = await upload(form, form.dataset.person);
    say(added ? `${added} face(s) added; reload to see them.` : 'No photo was added.', added > 0);
  },
  async rename(form) {
    const name = form.elements.name.value.trim();
    const answer = await api('PATCH', `/v1/people/${form.dataset.person}`, JSON.stringify({ name }), 'application/json');
    if (!answer.ok) return say(answer.message, false);
    window.location.reload();
  },
  // A visitor enrolled as a new person by the name typed.
  async nameVisitor(form) {
    const name = form.elements.name.value.trim();
    await enrollVisitor(form, { name }, name);
  },
  // A visitor added to somebody enrolled, picked from the page's list by name.
  async addVisitor(form) {
    const name = form.elements.person.value.trim();
    const person = enrolled(name, 'enrolled');
    if (!person) {
      return say(`Visitor ${form.dataset.visitor} was not enrolled: nobody enrolled is called "${name}"; pick a name from the list.`, false);
    }
    await enrollVisitor(form, { person_id: person.id }, name);
  },
  // Another person merged in, picked by name: the browser asks first, saying what moves.
  async merge(form) {
    const from = enrolled(form.elements.from.value, 'others');
    if (!from) return say(`Nobody else enrolled is called "${form.elements.from.value.trim()}"; pick a name from the list.`, false);
    const into = form.dataset.name;
    if (!window.confirm(`Merge ${from.name} into ${into}? ${from.name}'s ${from.faces} face(s), ` +
      `sightings and "not this person" examples become ${into}'s, and ${from.name} is removed. ` +
      'It cannot be undone.')) return;
    const answer = await api('POST', `/v1/people/${form.dataset.person}/merge`, JSON.stringify({ from: from.id }), 'application/json');
    if (!answer.ok) return say(answer.message, false);
    const done = answer.data;
    sessionStorage.setItem('said', `${from.name} is merged in: ${done.faces} face(s) moved` +
      (done.duplicates ? ` (${done.duplicates} of a photo ${into} had, dropped)` : '') +
      `, ${done.sightings} sighting(s), ${done.negatives} "not this person" example(s).`);
    window.location.reload();
  },
  // A face moved to the person it shows, picked by name.
  async moveFace(form) {
    const to = enrolled(form.elements.to.value, 'others');
    if (!to) return say(`Nobody else enrolled is called "${form.elements.to.value.trim()}"; pick a name from the list.`, false);
    const face = form.elements.face.value;
    if (!window.confirm(`Move face ${face} to ${to.name}? It becomes theirs, with its embeddings, crop and pose.`)) return;
    const answer = await api('POST', `/v1/people/${form.dataset.person}/faces/${face}/move`, JSON.stringify({ to: to.id }), 'application/json');
    if (!answer.ok) return say(answer.message, false);
    sessionStorage.setItem('said', `Face ${face} is now ${to.name}'s.`);
    window.location.reload();
  },
  // The threshold previewed, stored as the site threshold every server of the gallery follows
  // (an empty one clears it: the config's holds again).
  async applyThreshold(form) {
    const threshold = form.dataset.threshold === '' ? null : Number(form.dataset.threshold);
    const answer = await api('PUT', '/v1/settings/threshold', JSON.stringify({ threshold }), 'application/json');
    if (!answer.ok) return say(`The threshold was not changed: ${answer.message}`, false);
    const now = answer.data.threshold.toFixed(2);
    sessionStorage.setItem('said', threshold === null
      ? `The site threshold is cleared: this server matches with the config's ${now} again.`
      : `The threshold is now ${now}, on every server of this gallery.`);
    window.location.assign('/settings');
  },
  async createKey(form) {
    const body = JSON.stringify({ name: form.elements.name.value.trim(), scopes: [form.elements.scope.value] });
    const answer = await api('POST', '/v1/keys', body, 'application/json');
    if (!answer.ok) return say(answer.message, false);
    const shown = document.getElementById('new-key');
    shown.hidden = false;
    shown.querySelector('input').value = answer.data.secret;
    shown.querySelector('input').focus();
    say(`Key "${answer.data.name}" made. Copy it now: it is shown only once.`, true);
  },
};

const clicks = {
  async removeFace(button) {
    if (!window.confirm(button.dataset.confirm)) return;
    const answer = await api('DELETE', `/v1/people/${button.dataset.person}/faces/${button.dataset.face}`);
    if (!answer.ok) return say(answer.message, false);
    button.closest('.face').remove();
    say('The face is removed.', true);
  },
  // Not this person: a face enrolled for somebody it does not show, removed and kept as a
  // negative example.
  async notFace(button) {
    if (!window.confirm(button.dataset.confirm)) return;
    const answer = await api('POST', `/v1/people/${button.dataset.person}/faces/${button.dataset.face}/not`);
    if (!answer.ok) return say(answer.message, false);
    button.closest('.face').remove();
    say(`The face is removed and kept as ${answer.data.examples} negative example(s): whoever it shows is not named this person again.`, true);
  },
  // Not this person: a sighting named wrongly becomes unknown, its face a negative example.
  async notSighting(button) {
    if (!window.confirm(button.dataset.confirm)) return;
    const answer = await api('POST', `/v1/sightings/${button.dataset.sighting}/not`);
    if (!answer.ok) return say(`Sighting ${button.dataset.sighting} was not corrected: ${answer.message}`, false);
    const cell = button.closest('td');
    cell.textContent = 'unknown (corrected)';
    say(`Sighting ${button.dataset.sighting} is now unknown; its face is kept as a negative example.`, true);
  },
  async forget(button) {
    if (!window.confirm(button.dataset.confirm)) return;
    const answer = await api('DELETE', `/v1/people/${button.dataset.person}`);
    if (!answer.ok) return say(answer.message, false);
    window.location.assign('/people');
  },
  async dismissVisitor(button) {
    if (!window.confirm(button.dataset.confirm)) return;
    const visitor = button.dataset.visitor;
    const answer = await api('DELETE', `/v1/visitors/${visitor}`);
    if (!answer.ok) return say(answer.message, false);
    say(`Visitor ${visitor} is dismissed: ${answer.data.sightings} sighting(s) forgotten, with their crops.`, true);
    leaves(button.closest('.visitor'));
  },
  async revoke(button) {
    if (!window.confirm(button.dataset.confirm)) return;
    const answer = await api('DELETE', `/v1/keys/${encodeURIComponent(button.dataset.key)}`);
    if (!answer.ok) return say(answer.message, false);
    window.location.reload();
  },
};

for (const form of document.querySelectorAll('form[data-action]')) {
  dropZone(form);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try { await handlers[form.dataset.action](form); } finally { button.disabled = false; }
  });
}
for (const button of document.querySelectorAll('button[data-click]')) {
  button.addEventListener('click', () => clicks[button.dataset.click](button));
}

/** The Live page: who is in view at each camera now, and each change of a sighting as it
 *  happens (a track appeared, was named, renamed, left), newest first. The page comes with both
 *  as they were when it was made, and the stream follows on from there (`after`), so nothing
 *  is missed or shown twice. */
function followSightings(status) {
  const changes = [...document.querySelectorAll('ol.sightings')];
  const inView = [...document.querySelectorAll('ul.in-view')];
  const entry = (event, words) => {
    const item = document.createElement('li');
    item.className = event.name ? 'known' : 'unknown';
    if (event.person_id !== null) {
      const face = document.createElement('img');
      face.src = `/people/${event.person_id}/thumbnail`;
      face.alt = '';
      face.width = 48;
      face.height = 48;
      item.append(face);
    }
    const text = document.createElement('span');
    const distance = event.distance === null ? '' : `, distance ${event.distance.toFixed(2)}`;
    text.textContent = `${words} (track ${event.track}${distance})`;
    item.append(text);
    return item;
  };
  const camera = (lists, event) => lists.find((l) => l.dataset.camera === event.camera);
  // A track in view until it leaves, under its newest name.
  const place = (event) => {
    const list = camera(inView, event);
    if (!list) return;
    const before = [...list.children].find((item) => item.dataset.track === String(event.track));
    if (event.change === 'left') {
      before?.remove();
      return;
    }
    const item = entry(event, event.name ?? 'unknown');
    item.dataset.track = String(event.track);
    if (before) before.replaceWith(item); else list.append(item);
  };
  const show = (event) => {
    const list = camera(changes, event);
    if (!list) return;
    const time = new Date(event.time_ms).toLocaleTimeString();
    list.prepend(entry(event, `${time} ${event.name ?? 'unknown'} ${event.change}`));
    while (list.children.length > 50) list.lastElementChild.remove();
  };
  for (const event of JSON.parse(status.dataset.inView || '[]')) place(event);
  for (const event of JSON.parse(status.dataset.recent || '[]')) show(event);
  const events = new EventSource(`/v1/events?after=${encodeURIComponent(status.dataset.after)}`);
  events.addEventListener('open', () => { status.textContent = 'Following sightings as they happen.'; });
  events.addEventListener('error', () => { status.textContent = 'The sightings stream is interrupted; reconnecting…'; });
  const follow = (message) => {
    const event = JSON.parse(message.data);
    place(event);
    show(event);
  };
  events.addEventListener('person_seen', follow);
  events.addEventListener('unknown_seen', follow);
}

// What a change said before it reloaded the page, said again on the page reloaded.
const said = sessionStorage.getItem('said');
if (said) {
  sessionStorage.removeItem('said');
  say(said, true);
}

const live = document.querySelector('[data-live]');
if (live) followSightings(live);

/** The Enroll page's camera: asks for the poses in turn (the server's list), sends a small
 *  JPEG of the picture a few times a second for the live hint the server computes, and a
 *  capture on space or the button; the server judges each capture and keeps the accepted
 *  ones with the session until Save. */
function camera(panel) {
  const poses = JSON.parse(panel.dataset.poses);
  const $ = (id) => document.getElementById(`camera-${id}`);
  const video = $('video');
  const canvas = document.createElement('canvas');
  // A frame's width: enough for the face detector, small enough to send 4 times a second.
  const FRAME_WIDTH = 640;
  const LOOK_EVERY_MS = 250;
  let step = 0;
  let accepted = 0;
  let capturing = false;
  let looking = false;
  let timer = null;

  const asked = () => poses[step % poses.length];
  const showAsked = () => {
    $('asked').textContent = `Pose ${step % poses.length + 1} of ${poses.length}: ${asked().request}`;
  };
  const showCount = () => {
    $('count').textContent = accepted === 0 ? 'No capture accepted yet.'
      : `${accepted} capture(s) accepted; save when the poses are taken.`;
    $('save').disabled = accepted === 0;
    $('name').disabled = accepted > 0;
  };
  const tell = (text, ok) => {
    const line = $('said');
    line.textContent = text;
    line.className = ok ? 'done' : 'problem';
  };
  /** The picture now, as a JPEG blob no wider than FRAME_WIDTH. */
  const grab = () => new Promise((resolve) => {
    const scale = Math.min(1, FRAME_WIDTH / video.videoWidth);
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    canvas.getContext('2d').drawImage(video, 0, 0, canvas.width, canvas.height);
    canvas.toBlob(resolve, 'image/jpeg', 0.9);
  });
  const look = async () => {
    if (looking || capturing || !video.videoWidth) return;
    looking = true;
    try {
      const frame = await grab();
      const answer = await api('POST', `/enroll/camera/look?pose=${asked().pose}`, frame, 'image/jpeg');
      const hint = $('hint');
      if (answer.ok) {
        hint.textContent = answer.data.text;
        hint.className = answer.data.reached ? 'hint reached' : 'hint';
      } else if (answer.status !== 429) {
        hint.textContent = `No hint: ${answer.message}`;
        hint.className = 'hint';
      }
    } finally { looking = false; }
  };
  const capture = async () => {
    const name = $('name').value.trim();
    if (!name) { tell('Type the person\'s name first.', false); $('name').focus(); return; }
    if (capturing || !video.videoWidth) return;
    capturing = true;
    $('capture').disabled = true;
    try {
      const frame = await grab();
      const pose = asked().pose;
      const answer = await api('POST', `/enroll/camera/capture?pose=${pose}&name=${encodeURIComponent(name)}`,
        frame, 'image/jpeg');
      if (!answer.ok) return tell(`Not captured: ${answer.message}`, false);
      const verdict = answer.data;
      const shot = document.createElement('li');
      const thumb = document.createElement('img');
      thumb.src = URL.createObjectURL(frame);
      thumb.alt = verdict.accepted ? `Capture, ${verdict.caption}` : `Refused capture (${verdict.caption})`;
      const caption = document.createElement('span');
      caption.textContent = verdict.accepted ? `${verdict.caption}: accepted` : `refused: ${verdict.reason}`;
      shot.className = verdict.accepted ? 'accepted' : 'refused';
      shot.append(thumb, caption);
      panel.querySelector('.shots').prepend(shot);
      if (verdict.accepted) {
        accepted = verdict.taken;
        step += 1;
        showAsked();
        showCount();
        tell(`Capture ${accepted} accepted (${verdict.caption}).`, true);
      } else {
        tell(`Refused: ${verdict.reason}`, false);
      }
    } finally {
      capturing = false;
      $('capture').disabled = false;
    }
  };
  const startOver = async () => {
    const answer = await api('POST', '/enroll/camera/start-over');
    if (!answer.ok) return tell(answer.message, false);
    step = 0;
    accepted = 0;
    panel.querySelector('.shots').replaceChildren();
    showAsked();
    showCount();
    $('said').textContent = '';
    $('said').className = '';
  };
  const save = async () => {
    $('save').disabled = true;
    const answer = await api('POST', '/enroll/camera/save');
    if (!answer.ok) { showCount(); return tell(`Not saved: ${answer.message}`, false); }
    const done = answer.data;
    const warnings = done.warnings.length ? ` Warning: ${done.warnings.join('; ')}.` : '';
    sayEnrolled(`${done.name} is enrolled with ${done.added} face(s) from the camera.${warnings} `,
      done.person_id, done.name);
    step = 0;
    accepted = 0;
    panel.querySelector('.shots').replaceChildren();
    showAsked();
    showCount();
  };
  $('start').addEventListener('click', async () => {
    if (!navigator.mediaDevices?.getUserMedia) {
      return say('This browser gives the camera only to pages on https or on localhost: open ' +
        'the console that way, or enroll from photos below.', false);
    }
    try {
      video.srcObject = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false,
      });
    } catch (e) {
      return say(`The camera did not start (${e.name}: ${e.message}); allow this page to use it, ` +
        'or enroll from photos below.', false);
    }
    panel.querySelector('.camera-view').hidden = false;
    $('start').hidden = true;
    showAsked();
    showCount();
    if (!timer) timer = setInterval(look, LOOK_EVERY_MS);
    $('capture').focus();
  });
  $('capture').addEventListener('click', capture);
  $('skip').addEventListener('click', () => { step += 1; showAsked(); });
  $('save').addEventListener('click', save);
  $('over').addEventListener('click', startOver);
  // Space captures, unless a field has the keyboard (a name has spaces) or a button would
  // take the space as its own click.
  document.addEventListener('keydown', (event) => {
    if (event.key !== ' ' || panel.querySelector('.camera-view').hidden) return;
    if (event.target.closest('input, textarea, select, button')) return;
    event.preventDefault();
    capture();
  });
}

const cameraPanel = document.querySelector('[data-camera]');
if (cameraPanel) camera(cameraPanel);
