//! `floectl`: Floe's admin CLI.
//!
//! `floectl certs init --dir D` creates the cluster CA; `floectl certs issue --dir D --node ID`
//! or `--client NAME` issues a certificate signed by it. Every flag is also a `FLOE_*`
//! environment variable (flags win). See `docs/operations.md` ("Certificates").

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use floe_ctl::certs::{self, CA_DAYS, CERT_MODE, KEY_MODE, LEAF_DAYS, Options, Subject, Written};

/// Floe's admin CLI.
#[derive(Debug, Parser)]
#[command(name = "floectl", version, about = "Floe's admin CLI")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Cluster certificates for mutual TLS.
    #[command(subcommand)]
    Certs(Certs),
}

#[derive(Debug, Subcommand)]
enum Certs {
    /// Create the cluster CA: DIR/ca.pem and DIR/ca-key.pem (mode 0600).
    Init {
        #[command(flatten)]
        common: Common,
        /// Validity of the CA in days.
        #[arg(long, env = "FLOE_CERTS_CA_DAYS", default_value_t = CA_DAYS)]
        days: u32,
    },
    /// Issue a node or client certificate signed by the CA in DIR.
    Issue {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        subject: SubjectArgs,
        /// Validity of the certificate in days.
        #[arg(long, env = "FLOE_CERTS_DAYS", default_value_t = LEAF_DAYS)]
        days: u32,
    },
}

#[derive(Debug, Args)]
struct Common {
    /// Certificate directory (holds ca.pem and ca-key.pem).
    #[arg(long, env = "FLOE_CERTS_DIR")]
    dir: PathBuf,
    /// Replace existing files instead of refusing.
    #[arg(long, env = "FLOE_CERTS_FORCE")]
    force: bool,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct SubjectArgs {
    /// Node id: writes node-ID.pem and node-ID-key.pem (SANs: ID, localhost, 127.0.0.1).
    #[arg(long, env = "FLOE_CERTS_NODE", value_name = "ID")]
    node: Option<String>,
    /// Client name: writes client-NAME.pem and client-NAME-key.pem.
    #[arg(long, env = "FLOE_CERTS_CLIENT", value_name = "NAME")]
    client: Option<String>,
}

fn run(cli: Cli) -> Result<Written, certs::CertError> {
    match cli.command {
        Command::Certs(Certs::Init { common, days }) => {
            let opts = Options {
                force: common.force,
                days,
            };
            certs::init(&common.dir, opts)
        }
        Command::Certs(Certs::Issue {
            common,
            subject,
            days,
        }) => {
            let opts = Options {
                force: common.force,
                days,
            };
            let subject = match (subject.node, subject.client) {
                (Some(id), _) => Subject::Node(id),
                (None, Some(name)) => Subject::Client(name),
                (None, None) => unreachable!("clap requires --node or --client"),
            };
            certs::issue(&common.dir, &subject, opts)
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(written) => {
            println!("wrote {} (mode {CERT_MODE:o})", written.cert.display());
            println!("wrote {} (mode {KEY_MODE:o})", written.key.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("floectl: {e}");
            ExitCode::from(1)
        }
    }
}
