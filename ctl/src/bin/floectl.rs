//! `floectl`: Floe's admin CLI.
//!
//! `floectl certs init --dir D` creates the cluster CA; `floectl certs issue --dir D --node ID`
//! or `--client NAME` issues a certificate signed by it. Every flag is also a `FLOE_*`
//! environment variable (flags win). See `docs/operations.md` ("Certificates").
//!
//! `floectl ring plan --topology CURRENT.toml --add …/--remove …/--reweight …/--zone …` writes
//! the next topology and prints what moves, offline. `floectl ring apply|status|abort` and
//! `floectl node rebuild` talk to a node's HTTP admin endpoints (`--node URL`). See
//! `docs/rebalance.md`.
//!
//! `floectl mirror status --node URL …` shows what each node's mirror targets wait to send
//! (`docs/mirroring.md`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use floe_ctl::certs::{self, CA_DAYS, CERT_MODE, KEY_MODE, LEAF_DAYS, Options, Subject, Written};
use floe_ctl::entropy;
use floe_ctl::mirror;
use floe_ctl::ring::{
    self, Client, DEFAULT_NODE_URL, Estimates, Flag, LiveError, LiveOptions, Mode, NodeUrl,
    POLL_INTERVAL, PlanOptions,
};

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
    /// The token ring and topology changes.
    #[command(subcommand)]
    Ring(Ring),
    /// Node jobs.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Stream mirroring to other clusters (`docs/mirroring.md`).
    #[command(subcommand)]
    Mirror(MirrorCommand),
    /// Compare every replica of every range (or of some) and repair what differs
    /// (`POST /api/v1/admin/repair`), following the job with a progress bar.
    ///
    /// Exit code 1: node unreachable, HTTP error (409: a job runs), a comparison failed, or
    /// timeout; 2: bad flags.
    Repair(RepairArgs),
    /// One digest of a whole cluster's data, per time partition and in total
    /// (`GET /api/v1/admin/digest`); `digest compare A B` compares two clusters.
    Digest(DigestArgs),
}

#[derive(Debug, Args)]
struct RepairArgs {
    #[command(flatten)]
    node: NodeArg,
    /// Only ring ranges overlapping START:END (ring positions, decimal or 0x-hex,
    /// `(START, END]`); repeatable.
    #[arg(long = "range", value_name = "START:END")]
    ranges: Vec<String>,
    /// Only the ranges of node ID, compared against their other owners.
    #[arg(long = "only-node", value_name = "ID")]
    only_node: Option<String>,
    /// Compare and count what differs, repair nothing.
    #[arg(long)]
    dry_run: bool,
    /// Start the job and return at once.
    #[arg(long)]
    no_wait: bool,
    /// Print the job as JSON (one object per poll).
    #[arg(long)]
    json: bool,
    /// Give up following after this many seconds (exit 1; the job goes on).
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
struct DigestArgs {
    #[command(subcommand)]
    compare: Option<DigestCommand>,
    #[command(flatten)]
    node: NodeArg,
    #[command(flatten)]
    window: DigestWindow,
    /// Print the digest as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Args)]
struct DigestWindow {
    /// First timestamp (RFC 3339 or Unix seconds); default: the oldest.
    #[arg(long)]
    start: Option<String>,
    /// Last timestamp; default: the newest.
    #[arg(long)]
    end: Option<String>,
    /// Only the series matching this selector, e.g. '{__name__="up",job="api"}'.
    #[arg(long = "match", value_name = "SELECTOR")]
    selector: Option<String>,
    /// Time bucket width in ms (default: the node's partition length).
    #[arg(long, value_name = "MS")]
    bucket_ms: Option<i64>,
}

#[derive(Debug, Subcommand)]
enum DigestCommand {
    /// Whether two clusters hold identical data and, if not, where they differ. Exit code 0:
    /// identical, 3: different, 1: a cluster could not be asked.
    Compare {
        /// A node of the first cluster (http://HOST:PORT).
        a: String,
        /// A node of the second cluster.
        b: String,
        #[command(flatten)]
        window: DigestWindow,
        /// List the differing series of at most this many differing cells.
        #[arg(long, default_value_t = 5)]
        drill: usize,
    },
}

#[derive(Debug, Subcommand)]
enum NodeCommand {
    /// Rebuild a node's data from its replicas (`POST /api/v1/admin/node/rebuild?node=ID`).
    ///
    /// Exit code 1: node unreachable, HTTP error (404 unknown node, 409 busy), timeout or
    /// failed rebuild; 2: bad flags.
    Rebuild(RebuildArgs),
}

/// The node whose admin endpoints a live command talks to.
#[derive(Debug, Args)]
struct NodeArg {
    /// The node's HTTP address: http://HOST:PORT or HOST:PORT (plain http only).
    #[arg(long = "node", env = "FLOE_NODE_URL", value_name = "URL", default_value = DEFAULT_NODE_URL)]
    node: String,
}

#[derive(Debug, Args)]
struct ApplyArgs {
    /// The new topology document (version = the cluster's + 1), e.g. written by `ring plan`.
    #[arg(long, env = "FLOE_RING_APPLY_TOPOLOGY", value_name = "NEW.toml")]
    topology: PathBuf,
    #[command(flatten)]
    node: NodeArg,
    /// Follow the rebalance until the cluster is stable at the new version.
    #[arg(long, env = "FLOE_RING_WAIT")]
    wait: bool,
    /// Print the status as JSON (one object per line).
    #[arg(long, env = "FLOE_RING_JSON")]
    json: bool,
    /// With --wait: give up after this many seconds (exit 1; the rebalance goes on).
    #[arg(long, env = "FLOE_RING_TIMEOUT", value_name = "SECS")]
    timeout: Option<u64>,
}

#[derive(Debug, Args)]
struct StatusArgs {
    #[command(flatten)]
    node: NodeArg,
    /// Repeat every second until the cluster is stable.
    #[arg(long, env = "FLOE_RING_WATCH")]
    watch: bool,
    /// Print the status as JSON (one object per line).
    #[arg(long, env = "FLOE_RING_JSON")]
    json: bool,
}

#[derive(Debug, Args)]
struct AbortArgs {
    #[command(flatten)]
    node: NodeArg,
    /// Print the status as JSON.
    #[arg(long, env = "FLOE_RING_JSON")]
    json: bool,
}

#[derive(Debug, Args)]
struct RebuildArgs {
    /// The node to rebuild.
    #[arg(value_name = "ID")]
    id: String,
    #[command(flatten)]
    node: NodeArg,
    /// Follow the rebuild until it ends.
    #[arg(long, env = "FLOE_NODE_REBUILD_WAIT")]
    wait: bool,
    /// Print the status as JSON (one object per line).
    #[arg(long, env = "FLOE_NODE_REBUILD_JSON")]
    json: bool,
    /// With --wait: give up after this many seconds (exit 1; the rebuild goes on).
    #[arg(long, env = "FLOE_NODE_REBUILD_TIMEOUT", value_name = "SECS")]
    timeout: Option<u64>,
}

#[derive(Debug, Subcommand)]
enum Ring {
    /// Write the next topology and print what moves (offline: reads and writes files only).
    ///
    /// Add a node with `--add ID --quic ADDR --http ADDR --zone Z [--weight W]` (the flags after
    /// an --add belong to it); remove one with `--remove ID`, reweight with `--reweight ID=W`,
    /// move one to another zone with `--zone ID=Z`. All repeatable. Exit code 2: invalid
    /// topology or change; 1: a file cannot be read or written (or exists, without --force).
    Plan(PlanArgs),
    /// Apply a new topology to the running cluster (`POST /api/v1/admin/ring/apply`).
    ///
    /// Checks the document parses, sends it to the node and prints the status; --wait follows
    /// the rebalance. Exit code 2: invalid topology file or bad flags; 1: node unreachable,
    /// HTTP error (400 rejected, 409 another rebalance running), timeout, or aborted.
    Apply(ApplyArgs),
    /// Show the cluster's topology version and rebalance progress (`GET …/ring/status`).
    Status(StatusArgs),
    /// Abort the running rebalance (`POST …/ring/abort`; 409 if none, or already committing).
    Abort(AbortArgs),
}

#[derive(Debug, Args)]
struct PlanArgs {
    /// The current topology document.
    #[arg(long, env = "FLOE_RING_TOPOLOGY", value_name = "CURRENT.toml")]
    topology: PathBuf,
    /// Add a node with this id; give its --quic, --http, --zone (and --weight) after it.
    #[arg(long, value_name = "ID")]
    add: Vec<String>,
    /// QUIC address of the preceding --add.
    #[arg(long, value_name = "ADDR")]
    quic: Vec<String>,
    /// HTTP address of the preceding --add.
    #[arg(long, value_name = "ADDR")]
    http: Vec<String>,
    /// Zone of the preceding --add (`Z`), or move an existing node to a zone (`ID=Z`).
    #[arg(long, value_name = "Z|ID=Z")]
    zone: Vec<String>,
    /// Weight of the preceding --add (default 1).
    #[arg(long, value_name = "W")]
    weight: Vec<String>,
    /// Remove a node (a list: comma-separated).
    #[arg(
        long,
        value_name = "ID",
        env = "FLOE_RING_REMOVE",
        value_delimiter = ','
    )]
    remove: Vec<String>,
    /// Change a node's weight (a list: comma-separated).
    #[arg(
        long,
        value_name = "ID=W",
        env = "FLOE_RING_REWEIGHT",
        value_delimiter = ','
    )]
    reweight: Vec<String>,
    /// Where to write the new topology [default: CURRENT.vN.toml beside CURRENT].
    #[arg(long, env = "FLOE_RING_OUT", value_name = "NEW.toml")]
    out: Option<PathBuf>,
    /// Replace an existing output file instead of refusing.
    #[arg(long, env = "FLOE_RING_FORCE")]
    force: bool,
    /// Print the plan as one JSON object.
    #[arg(long, env = "FLOE_RING_JSON")]
    json: bool,
    /// Mean samples stored per current node, for estimates of samples moved.
    #[arg(long, env = "FLOE_RING_SAMPLES_PER_NODE", value_name = "N")]
    samples_per_node: Option<u64>,
    /// Mean bytes stored per current node, for estimates of bytes moved.
    #[arg(long, env = "FLOE_RING_BYTES_PER_NODE", value_name = "B")]
    bytes_per_node: Option<u64>,
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

fn run_certs(command: Certs) -> Result<Written, certs::CertError> {
    match command {
        Certs::Init { common, days } => {
            let opts = Options {
                force: common.force,
                days,
            };
            certs::init(&common.dir, opts)
        }
        Certs::Issue {
            common,
            subject,
            days,
        } => {
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

fn certs_main(command: Certs) -> ExitCode {
    match run_certs(command) {
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

/// The change flags in command-line order. Only an `--add` group's flags depend on order
/// (clap's indices give it); `--remove` and `--reweight` may also come from the environment.
fn change_flags(args: &PlanArgs, matches: &ArgMatches) -> Vec<(Flag, String)> {
    let grouped = [
        ("add", Flag::Add),
        ("quic", Flag::Quic),
        ("http", Flag::Http),
        ("zone", Flag::Zone),
        ("weight", Flag::Weight),
    ];
    let mut ordered: Vec<(usize, Flag, String)> = Vec::new();
    for (id, flag) in grouped {
        let indices = matches.indices_of(id).into_iter().flatten();
        let values = matches.get_many::<String>(id).into_iter().flatten();
        ordered.extend(indices.zip(values).map(|(i, v)| (i, flag, v.clone())));
    }
    ordered.sort_by_key(|&(i, ..)| i);
    let mut flags: Vec<(Flag, String)> = ordered.into_iter().map(|(_, f, v)| (f, v)).collect();
    flags.extend(args.remove.iter().map(|v| (Flag::Remove, v.clone())));
    flags.extend(args.reweight.iter().map(|v| (Flag::Reweight, v.clone())));
    flags
}

fn ring_plan_main(args: PlanArgs, matches: &ArgMatches) -> ExitCode {
    let opts = PlanOptions {
        flags: change_flags(&args, matches),
        topology: args.topology,
        out: args.out,
        force: args.force,
        estimates: Estimates {
            samples_per_node: args.samples_per_node,
            bytes_per_node: args.bytes_per_node,
        },
    };
    match ring::run(&opts) {
        Ok(planned) if args.json => {
            println!("{}", planned.to_json());
            ExitCode::SUCCESS
        }
        Ok(planned) => {
            print!("{}", planned.to_text());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("floectl: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Options of a live command; a bad `--node` fails with exit code 2.
fn live_options(
    node: &str,
    json: bool,
    wait: bool,
    timeout: Option<u64>,
) -> Result<LiveOptions, LiveError> {
    let url = NodeUrl::parse(node)?;
    let mode = if json {
        Mode::Json
    } else if std::io::stdout().is_terminal() {
        Mode::Redraw
    } else {
        Mode::Lines
    };
    Ok(LiveOptions {
        client: Client::new(url),
        mode,
        wait,
        timeout: timeout.map(Duration::from_secs),
        poll: POLL_INTERVAL,
    })
}

fn live_main(command: impl FnOnce(&mut dyn std::io::Write) -> Result<(), LiveError>) -> ExitCode {
    match command(&mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("floectl: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn ring_live_main(command: Ring) -> ExitCode {
    live_main(|out| match command {
        Ring::Apply(a) => {
            let opts = live_options(&a.node.node, a.json, a.wait, a.timeout)?;
            ring::apply_live(&a.topology, &opts, out)
        }
        Ring::Status(a) => {
            ring::status_live(&live_options(&a.node.node, a.json, a.watch, None)?, out)
        }
        Ring::Abort(a) => ring::abort_live(&live_options(&a.node.node, a.json, false, None)?, out),
        Ring::Plan(_) => unreachable!("`ring plan` runs offline"),
    })
}

fn node_main(command: NodeCommand) -> ExitCode {
    let NodeCommand::Rebuild(a) = command;
    live_main(|out| {
        let opts = live_options(&a.node.node, a.json, a.wait, a.timeout)?;
        ring::rebuild_live(&a.id, &opts, out)
    })
}

fn repair_main(a: RepairArgs) -> ExitCode {
    live_main(|out| {
        let opts = live_options(&a.node.node, a.json, !a.no_wait, a.timeout)?;
        let ropts = entropy::RepairOptions {
            ranges: a.ranges,
            only_node: a.only_node,
            dry_run: a.dry_run,
            wait: opts.wait,
            timeout: opts.timeout,
            poll: POLL_INTERVAL,
            mode: opts.mode,
        };
        entropy::repair_live(&opts.client, &ropts, out)
    })
}

fn digest_options(w: DigestWindow) -> entropy::DigestOptions {
    entropy::DigestOptions {
        start: w.start,
        end: w.end,
        selector: w.selector,
        bucket_ms: w.bucket_ms,
    }
}

fn digest_main(a: DigestArgs) -> ExitCode {
    if let Some(DigestCommand::Compare {
        a,
        b,
        window,
        drill,
    }) = a.compare
    {
        let run = || -> Result<entropy::Comparison, LiveError> {
            let ca = Client::new(NodeUrl::parse(&a)?);
            let cb = Client::new(NodeUrl::parse(&b)?);
            entropy::compare_live(&ca, &cb, &digest_options(window), drill)
        };
        return match run() {
            Ok(c) => {
                print!("{}", c.text);
                if c.identical {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(3)
                }
            }
            Err(e) => {
                eprintln!("floectl: {e}");
                ExitCode::from(e.exit_code())
            }
        };
    }
    let json = a.json;
    live_main(|out| {
        let client = Client::new(NodeUrl::parse(&a.node.node)?);
        let d = entropy::fetch_digest(&client, &digest_options(a.window), &[])?;
        let text = if json {
            format!("{d}\n")
        } else {
            entropy::render_digest(&d)
        };
        let _ = out.write_all(text.as_bytes());
        Ok(())
    })
}

#[derive(Debug, Subcommand)]
enum MirrorCommand {
    /// What each node's mirror targets wait to send: pending records and bytes, lag, samples
    /// sent, errors, dropped samples, state (`GET /api/v1/admin/mirror/status`).
    ///
    /// Exit code 1: a node cannot be asked (the others are still shown); 2: bad flags.
    Status(MirrorStatusArgs),
}

#[derive(Debug, Args)]
struct MirrorStatusArgs {
    /// A node's HTTP address (http://HOST:PORT or HOST:PORT); repeat for several nodes, or
    /// give a comma-separated list in FLOE_NODE_URL. Mirroring is per coordinator: ask every
    /// node that receives writes.
    #[arg(
        long = "node",
        env = "FLOE_NODE_URL",
        value_name = "URL",
        default_value = DEFAULT_NODE_URL,
        value_delimiter = ','
    )]
    nodes: Vec<String>,
    /// One JSON object per node and line (the endpoint's document plus `url`).
    #[arg(long, env = "FLOE_MIRROR_JSON")]
    json: bool,
}

fn mirror_main(command: MirrorCommand) -> ExitCode {
    let MirrorCommand::Status(a) = command;
    let mut clients = Vec::with_capacity(a.nodes.len());
    for n in &a.nodes {
        match NodeUrl::parse(n) {
            Ok(url) => clients.push(Client::new(url)),
            Err(e) => {
                eprintln!("floectl: {e}");
                return ExitCode::from(e.exit_code());
            }
        }
    }
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    match mirror::status(&clients, a.json, &mut out, &mut err) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("floectl: write the status: {e}");
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match cli.command {
        Command::Certs(command) => certs_main(command),
        Command::Ring(Ring::Plan(args)) => {
            let plan = matches
                .subcommand_matches("ring")
                .and_then(|m| m.subcommand_matches("plan"))
                .expect("clap matched `ring plan`");
            ring_plan_main(args, plan)
        }
        Command::Ring(live) => ring_live_main(live),
        Command::Node(command) => node_main(command),
        Command::Mirror(command) => mirror_main(command),
        Command::Repair(args) => repair_main(args),
        Command::Digest(args) => digest_main(args),
    }
}
