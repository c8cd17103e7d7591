//! A row's values, read without panicking: a column whose type is not what whoisit wrote
//! there (a database changed by another program, or by hand) is an error that names the table
//! and the column.

use std::collections::HashMap;

use postgres::types::FromSql;
use postgres::{Client, Row};

use crate::base::error::{Error, Result};

/// What names a result's columns: the gallery's tables by their ids.
pub(super) struct Columns {
    location: String,
    tables: HashMap<u32, String>,
}

impl Columns {
    /// The tables of the database `client` is connected to, once its schema is up to date.
    pub(super) fn load(
        client: &mut Client,
        location: &str,
    ) -> std::result::Result<Columns, postgres::Error> {
        let mut tables = HashMap::new();
        for row in client.query(
            "SELECT oid, relname::text FROM pg_class
             WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'",
            &[],
        )? {
            tables.insert(row.try_get(0)?, row.try_get(1)?);
        }
        Ok(Columns {
            location: location.to_owned(),
            tables,
        })
    }

    /// The database, as the user knows it.
    pub(super) fn location(&self) -> &str {
        &self.location
    }

    /// The value of column `index` of `row`.
    pub(super) fn at<'a, T: FromSql<'a>>(&self, row: &'a Row, index: usize) -> Result<T> {
        row.try_get(index).map_err(|e| self.wrong(row, index, e))
    }

    fn wrong(&self, row: &Row, index: usize, error: postgres::Error) -> Error {
        let column = row.columns().get(index);
        let name = column.map_or_else(|| format!("number {}", index + 1), |c| c.name().to_owned());
        let place = match column.and_then(postgres::Column::table_oid) {
            Some(oid) => match self.tables.get(&oid) {
                Some(table) => format!("column {name} of table {table}"),
                None => format!("column {name} of table {oid} (by id)"),
            },
            None => format!("the computed column {name}"),
        };
        Error::Gallery {
            location: self.location.clone(),
            message: format!(
                "{place} does not hold what whoisit stores there (was the database changed by \
                 another program?); nothing was changed"
            ),
            source: Some(Box::new(error)),
        }
    }
}
