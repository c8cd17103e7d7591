//! A PostgreSQL database of a test's own on the server `WHOISIT_TEST_POSTGRES` (an admin URL;
//! `scripts/test.sh` sets it, starting a server when none runs), by default
//! `postgres://root@127.0.0.1:5432/postgres`.

/// A database of its own, dropped when the test ends however it ends.
pub(crate) struct Database {
    admin: String,
    name: String,
    pub(crate) url: String,
}

impl Database {
    pub(crate) fn new() -> Database {
        let admin = std::env::var("WHOISIT_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".into());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("whoisit_t_{}_{nanos}", std::process::id());
        let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap_or_else(|e| {
            panic!("no PostgreSQL at {admin} ({e}); run the tests through scripts/test.sh, or set WHOISIT_TEST_POSTGRES")
        });
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let base = &admin[..admin.rfind('/').unwrap()];
        let url = format!("{base}/{name}");
        Database { admin, name, url }
    }
}

impl Database {
    /// Ends every connection to the database, as a server restart or an admin's
    /// `pg_terminate_backend` would; returns how many there were.
    pub(crate) fn terminate_connections(&self) -> usize {
        let mut client = postgres::Client::connect(&self.admin, postgres::NoTls).unwrap();
        client
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&self.name],
            )
            .unwrap()
            .len()
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        match postgres::Client::connect(&self.admin, postgres::NoTls) {
            Ok(mut client) => {
                if let Err(e) =
                    client.batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
                {
                    eprintln!("cannot drop {}: {e}", self.name);
                }
            }
            Err(e) => eprintln!("cannot drop {}: {e}", self.name),
        }
    }
}
