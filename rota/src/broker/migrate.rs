//! Brings a `broker.db` written by tansu 0.6 (Rota's built-in broker before nisshi) up to the
//! schema nisshi 0.8 reads. The one difference is the `header` table: nisshi numbers a record's
//! headers (`ordinal`, part of the primary key) and its fetch reads that column, so a tansu file
//! opens but every fetch fails. nisshi itself only adds missing tables to a file it did not
//! create, so the table is rebuilt here, once, before the broker opens the file.

use std::path::Path;

use anyhow::{Context, Result};

/// nisshi-storage-sql 0.8.1's `ddl/040-header.sql`.
const NISSHI_HEADER: &str = "create table header (
    topition integer,
    offset_id integer,
    ordinal integer,
    k blob,
    v blob,
    last_updated datetime default current_timestamp not null,
    created_at datetime default current_timestamp not null,
    primary key (topition, offset_id, ordinal),
    foreign key (topition, offset_id) references record (topition, offset_id) on delete cascade
)";

/// Rebuilds the `header` table of a tansu 0.6 file, keeping each record's headers in the order
/// tansu stored them. Returns how many headers were carried over, or `None` when `file` needs
/// nothing (no file yet, or one nisshi wrote).
pub async fn from_tansu(file: &Path) -> Result<Option<u64>> {
    if !file.exists() {
        return Ok(None);
    }
    let context = || format!("migrating {} from tansu 0.6", file.display());
    let db = libsql::Builder::new_local(file)
        .build()
        .await
        .with_context(context)?;
    let connection = db.connect().with_context(context)?;
    let tansu_header = "select 1 from sqlite_schema where type = 'table' and name = 'header' \
                        and not exists (select 1 from pragma_table_info('header') \
                        where name = 'ordinal')";
    if connection
        .query(tansu_header, ())
        .await
        .with_context(context)?
        .next()
        .await
        .with_context(context)?
        .is_none()
    {
        return Ok(None);
    }
    let tx = connection
        .transaction_with_behavior(libsql::TransactionBehavior::Immediate)
        .await
        .with_context(context)?;
    tx.execute("alter table header rename to header_tansu", ())
        .await
        .with_context(context)?;
    tx.execute(NISSHI_HEADER, ()).await.with_context(context)?;
    let headers = tx
        .execute(
            "insert into header (topition, offset_id, ordinal, k, v, last_updated, created_at) \
             select topition, offset_id, \
             row_number() over (partition by topition, offset_id order by rowid) - 1, \
             k, v, last_updated, created_at from header_tansu",
            (),
        )
        .await
        .with_context(context)?;
    tx.execute("drop table header_tansu", ())
        .await
        .with_context(context)?;
    tx.commit().await.with_context(context)?;
    Ok(Some(headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_tansu_file_is_migrated_once_with_every_header() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("broker.db");
        let fixture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/tansu-0.6/broker.db"
        );
        std::fs::copy(fixture, &file).unwrap();
        // 30 records with two headers each (tests/legacy_broker.py).
        assert_eq!(from_tansu(&file).await.unwrap(), Some(60));
        assert_eq!(from_tansu(&file).await.unwrap(), None, "only once");
        let missing = dir.path().join("none.db");
        assert_eq!(from_tansu(&missing).await.unwrap(), None);
        assert!(
            !missing.exists(),
            "a new data directory is left to the broker"
        );
    }
}
