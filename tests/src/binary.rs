//! Finding the `floed` binary for tests that live outside `floe-node`.
//!
//! `CARGO_BIN_EXE_floed` exists only for `floe-node`'s own tests, so the harness builds the
//! binary itself, once per test process: `cargo build -p floe-node --bin floed` into the target
//! directory and profile of the running test executable, then uses
//! `<target dir>/<profile dir>/floed`. `FLOE_FLOED_BIN` overrides all of this (the jepsen suite
//! and CI can point it at a release build).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, bail};

/// Environment variable naming a `floed` binary to use instead of building one.
pub const FLOED_BIN_ENV: &str = "FLOE_FLOED_BIN";

/// The `floed` binary: `$FLOE_FLOED_BIN`, else built once per process (later calls reuse the
/// first call's result, success or failure).
pub fn floed_bin() -> anyhow::Result<PathBuf> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| locate_or_build("floe-node", "floed").map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// The `floectl` binary, built once per process like [`floed_bin`].
pub fn floectl_bin() -> anyhow::Result<PathBuf> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| locate_or_build("floe-ctl", "floectl").map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Runs floectl with `args`; its stdout, or an error with its whole output when it exits
/// non-zero.
pub fn floectl(args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new(floectl_bin()?)
        .args(args)
        .output()
        .map_err(|e| anyhow::anyhow!("run floectl: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    anyhow::ensure!(
        out.status.success(),
        "floectl {args:?} exited with {}:\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(stdout)
}

fn locate_or_build(package: &str, bin: &str) -> anyhow::Result<PathBuf> {
    if bin == "floed"
        && let Some(path) = std::env::var_os(FLOED_BIN_ENV)
    {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("{FLOED_BIN_ENV}={} is not a file", path.display());
        }
        return Ok(path);
    }
    let (target_dir, profile_dir) = target_and_profile()?;
    build(package, bin, &target_dir, &profile_dir)?;
    let path = target_dir.join(&profile_dir).join(bin);
    if !path.is_file() {
        bail!("cargo built {bin} but {} does not exist", path.display());
    }
    Ok(path)
}

/// The target directory and profile directory (`debug`, `release`, or a custom profile's
/// name) of the running executable, which cargo put at `<target>/<profile>/deps/<name>-<hash>`
/// (tests) or `<target>/<profile>/<name>` (binaries and examples one level down).
fn target_and_profile() -> anyhow::Result<(PathBuf, String)> {
    let exe = std::env::current_exe().context("find the running test executable")?;
    let mut dir = exe.parent();
    while let Some(d) = dir {
        let name = d.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if matches!(name, "deps" | "examples") {
            dir = d.parent();
            continue;
        }
        if let Some(target) = d.parent().filter(|t| t.join("CACHEDIR.TAG").exists()) {
            return Ok((target.to_path_buf(), name.to_string()));
        }
        break;
    }
    // Not under a cargo target directory: fall back to CARGO_TARGET_DIR or ./target, debug.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    Ok((target, "debug".to_string()))
}

/// The workspace root: the parent of this crate's manifest directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent directory")
        .to_path_buf()
}

fn build(package: &str, bin: &str, target_dir: &Path, profile_dir: &str) -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root())
        .args(["build", "--quiet", "-p", package, "--bin", bin])
        .arg("--target-dir")
        .arg(target_dir);
    match profile_dir {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        custom => {
            cmd.args(["--profile", custom]);
        }
    }
    eprintln!(
        "floe-tests: building {bin} ({profile_dir}) into {}",
        target_dir.display()
    );
    let out = cmd
        .output()
        .with_context(|| format!("run cargo build -p {package} --bin {bin}"))?;
    if !out.status.success() {
        bail!(
            "cargo build -p {package} --bin {bin} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
