//! Where the new topology goes, and writing it safely.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use floe_ring::Topology;

use super::PlanError;

/// `CURRENT.vN.toml` beside the current file: `topology.toml` → `topology.v8.toml`. A stem
/// that already ends in `.vDIGITS` loses it (`topology.v7.toml` → `topology.v8.toml`), and a
/// file without extension gets `.toml`.
pub fn default_out_path(current: &Path, version: u64) -> PathBuf {
    let stem = current
        .file_stem()
        .map_or_else(|| "topology".into(), |s| s.to_string_lossy());
    let stem = match stem.rsplit_once(".v") {
        Some((base, digits))
            if !base.is_empty()
                && !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            base
        }
        _ => &stem,
    };
    let ext = current
        .extension()
        .map_or_else(|| "toml".into(), |e| e.to_string_lossy());
    current.with_file_name(format!("{stem}.v{version}.{ext}"))
}

/// Writes `topology` as TOML to `path`: a temporary file in the same directory, fsynced, then
/// linked into place (which fails if `path` exists) or, with `force`, renamed over it; then
/// the directory is fsynced. The text is parsed back and compared before anything is written.
pub fn write_topology(path: &Path, topology: &Topology, force: bool) -> Result<(), PlanError> {
    let text = topology.to_toml();
    assert_eq!(
        Topology::parse(&text).as_ref(),
        Ok(topology),
        "floe-ring promises parse(to_toml(t)) == t"
    );
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "topology".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = write_tmp(&tmp, &text).and_then(|()| place(&tmp, path, force));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync directory", dir))
}

fn write_tmp(tmp: &Path, text: &str) -> Result<(), PlanError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(io("create", tmp))?;
    file.write_all(text.as_bytes()).map_err(io("write", tmp))?;
    file.sync_all().map_err(io("fsync", tmp))
}

fn place(tmp: &Path, path: &Path, force: bool) -> Result<(), PlanError> {
    if force {
        return std::fs::rename(tmp, path).map_err(io("rename into place", path));
    }
    match std::fs::hard_link(tmp, path) {
        Ok(()) => std::fs::remove_file(tmp).map_err(io("remove", tmp)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(PlanError::Exists {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(io("link into place", path)(e)),
    }
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PlanError {
    let path = path.to_path_buf();
    move |source| PlanError::Io { op, path, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_output_is_the_next_version_beside_the_current_file() {
        let cases = [
            ("/etc/floe/topology.toml", 8, "/etc/floe/topology.v8.toml"),
            (
                "/etc/floe/topology.v7.toml",
                8,
                "/etc/floe/topology.v8.toml",
            ),
            ("topo", 2, "topo.v2.toml"),
            ("a.vx.toml", 2, "a.vx.v2.toml"),
            ("dir/.v3.toml", 4, "dir/.v3.v4.toml"),
        ];
        for (current, version, want) in cases {
            assert_eq!(
                default_out_path(Path::new(current), version),
                PathBuf::from(want),
                "{current}"
            );
        }
    }
}
