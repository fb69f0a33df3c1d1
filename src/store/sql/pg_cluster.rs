//! The tests' private PostgreSQL cluster (`tests/common/pg.rs`, shared
//! with the integration tests), and a transaction on it for unit tests.

#[path = "../../../tests/common/pg.rs"]
mod cluster;

pub use cluster::PgCluster;

impl PgCluster {
    /// Run `f` inside one transaction on a pooled connection to this
    /// cluster, on a thread of its own as the server's blocking pool would;
    /// rolled back afterwards. A panic in `f` fails the caller.
    pub fn in_transaction(&self, f: impl FnOnce(&super::Conn<'_>) + Send + 'static) {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let mut cfg = deadpool_postgres::Config::new();
        cfg.url = Some(self.url());
        cfg.password = Some(self.password().to_string());
        let pool = cfg
            .create_pool(
                Some(deadpool_postgres::Runtime::Tokio1),
                tokio_postgres::NoTls,
            )
            .expect("pool");
        let client = rt.block_on(pool.get()).expect("connect");
        let handle = rt.handle().clone();
        std::thread::spawn(move || {
            let session = super::PgSession::new(client, handle);
            let conn = super::Conn::postgres(&session);
            conn.batch("BEGIN").expect("begin");
            f(&conn);
            conn.batch("ROLLBACK").expect("rollback");
        })
        .join()
        .expect("no panic on PostgreSQL");
    }
}
