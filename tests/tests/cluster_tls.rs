//! Mutual TLS on the cluster port: a client or a would-be peer whose certificate is not signed
//! by the cluster CA is refused at its first request (`tls_refused`), a client that does not
//! trust the node's CA refuses the node, and a genuine client certificate may not send the
//! requests reserved to nodes.

use floe_ctl::certs::Subject;
use floe_storage_format::{Sample, SeriesKey};
use floe_tests::load::now_ms;
use floe_tests::peer::{WireClient, topology_ref, write_request};
use floe_tests::{BlockingClient, ClusterSpec, TestCluster};
use floe_wire::TlsFiles;
use floe_wire::proto::{Consistency, ErrorCode, Request, Response, WriteMode};

/// The cluster's CA (so the node's certificate verifies), but `foreign`'s certificate and key.
fn impostor(cluster: &TestCluster, foreign: TlsFiles) -> TlsFiles {
    TlsFiles {
        ca: cluster.client_tls().ca,
        ..foreign
    }
}

fn expect_refused(what: &str, r: Result<Response, floe_wire::WireError>) {
    match r {
        Err(e) => {
            println!("{what}: refused: {e}");
            assert_eq!(e.code(), "tls_refused", "{what}: {e}");
        }
        Ok(resp) => panic!("{what}: expected tls_refused, got an answer {resp:?}"),
    }
}

#[test]
fn a_client_or_peer_without_a_valid_certificate_is_refused() -> anyhow::Result<()> {
    println!(
        "checks: certificates from another CA (client, and node n2 impersonating a peer) get \
         tls_refused at the first request, over floe-wire and floe-client; a client trusting \
         another CA refuses the node; the cluster's client certificate works but may not send \
         a replica write (forbidden)"
    );
    let mut cluster = TestCluster::start(ClusterSpec::new(3, 2))?;
    let (addr, name) = (cluster.quic_addr(0), cluster.node_id(0).to_string());
    let topology = Request::Topology;

    let good = WireClient::new(&cluster.client_tls())?;
    let answer = good.request(addr, &name, &topology)?;
    assert!(matches!(answer, Response::Topology(_)), "{answer:?}");

    let rogue_client = impostor(
        &cluster,
        cluster.foreign_tls(&Subject::Client("test".into()))?,
    );
    expect_refused(
        "client certificate from another CA",
        WireClient::new(&rogue_client)?.request(addr, &name, &topology),
    );
    let rogue_peer = impostor(&cluster, cluster.foreign_tls(&Subject::Node("n2".into()))?);
    expect_refused(
        "node n2's name on a certificate from another CA",
        WireClient::new(&rogue_peer)?.request(addr, &name, &topology),
    );
    let distrustful = cluster.foreign_tls(&Subject::Client("test".into()))?;
    expect_refused(
        "client trusting another CA",
        WireClient::new(&distrustful)?.request(addr, &name, &topology),
    );

    let mut config = cluster.client_config();
    config.tls = rogue_client;
    match BlockingClient::connect(config) {
        Ok(_) => panic!("floe-client connected with a certificate from another CA"),
        Err(e) => {
            let code = e
                .downcast_ref::<floe_client::ClientError>()
                .map(floe_client::ClientError::code);
            println!("floe-client with a certificate from another CA: {e:#}");
            assert_eq!(code, Some("tls_refused"), "{e:#}");
        }
    }

    // A genuine client certificate cannot pose as a peer.
    let key = SeriesKey::new("tls_v", [("db", "test")])?;
    let req = write_request(
        topology_ref(cluster.topology()),
        WriteMode::Replica,
        Consistency::One,
        &[(key, Sample::new(now_ms(), 1.0, 0))],
    )?;
    match good.request(addr, &name, &req)? {
        Response::Error(e) if e.code == ErrorCode::Forbidden => println!("replica write: {e}"),
        other => panic!("a client's replica write was not forbidden: {other:?}"),
    }

    drop((good, req));
    cluster.stop_all()?;
    cluster.check_logs(&[])
}
