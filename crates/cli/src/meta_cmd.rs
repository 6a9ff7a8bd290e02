//! `strata meta check|repair|recover`: offline tools for the metadata journal — the quorum's
//! Raft log `<data dir>/__cluster_metadata/raft.log`, or a version-1 `metadata.log`. Run them
//! with the broker stopped. `recover` writes what it creates to `metadata.log`, which the
//! broker imports into the quorum at its next start.
//!
//! - `check` reads the journal and reports whether it is clean, ends in a torn tail (cut
//!   automatically at the next start), or is damaged (the broker refuses to start); it exits
//!   with status 1 when damaged.
//! - `repair --truncate-at N` accepts the loss of every entry from byte N on, after copying the
//!   original aside.
//! - `recover` rebuilds missing topics from the partition directories (see
//!   `strata_broker::recover`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use strata_meta::journal_repair::{check, repair};
use strata_meta::journal_scan::ScanEnd;

/// Metadata journal administration.
#[derive(Debug, Args)]
pub(crate) struct MetaArgs {
    /// The broker's data directory.
    #[arg(long, global = true, default_value = "./strata-data")]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: MetaCommand,
}

#[derive(Debug, Subcommand)]
enum MetaCommand {
    /// Report the journal's state: clean, torn tail, or damaged (exit status 1 when damaged).
    Check,
    /// Cut the journal at byte N (an entry boundary), accepting the loss of what follows.
    Repair {
        /// Byte offset to cut at, as printed by `strata meta check` or the broker's error.
        #[arg(long)]
        truncate_at: usize,
    },
    /// Rebuild topics missing from the journal from the partition directories on disk.
    Recover {
        /// `node.id` recorded if the journal has to be created afresh.
        #[arg(long, default_value_t = 0)]
        node_id: i32,
    },
}

/// The quorum's Raft log (`raft.log`, journal format 2) where there is one; otherwise a
/// version-1 `metadata.log` (an older build's, or one an offline tool wrote for import).
fn journal_path(data_dir: &Path) -> PathBuf {
    let dir = data_dir.join(strata_broker::broker::META_DIR);
    let raft = dir.join("raft.log");
    if raft.exists() {
        raft
    } else {
        dir.join("metadata.log")
    }
}

pub(crate) fn run(args: MetaArgs) -> anyhow::Result<()> {
    let path = journal_path(&args.data_dir);
    match args.command {
        MetaCommand::Check => {
            let r = check(&path).with_context(|| format!("check {}", path.display()))?;
            println!("journal: {}", r.path.display());
            println!("size: {} bytes", r.file_len);
            println!(
                "intact entries: {} (bytes 0..{})",
                r.intact_entries, r.intact_len
            );
            println!("topics in the intact prefix: {}", r.topics.len());
            for t in &r.topics {
                println!("  {t}");
            }
            match &r.end {
                ScanEnd::Clean => println!("state: clean"),
                ScanEnd::TornTail { at, why } => println!(
                    "state: torn tail at byte {at} ({why}); the broker cuts it at the next start \
                     (it was never acknowledged)"
                ),
                ScanEnd::Damaged {
                    at,
                    why,
                    next_intact,
                } => {
                    println!(
                        "state: DAMAGED at byte {at} ({why}); intact entries resume at byte \
                         {next_intact} ({} intact entries after the damage)",
                        r.entries_after_damage
                    );
                    println!(
                        "the broker refuses to start. To accept losing every entry from byte {at} \
                         on: strata meta repair --data-dir {} --truncate-at {at}",
                        args.data_dir.display()
                    );
                    println!(
                        "then `strata meta recover --data-dir {}` re-creates topics whose \
                         directories are still on disk",
                        args.data_dir.display()
                    );
                    std::process::exit(1);
                }
            }
            Ok(())
        }
        MetaCommand::Repair { truncate_at } => {
            let out =
                repair(&path, truncate_at).with_context(|| format!("repair {}", path.display()))?;
            println!(
                "cut {} at byte {truncate_at}: kept {} entries, dropped {} bytes; the original is \
                 at {}",
                path.display(),
                out.kept_entries,
                out.dropped_bytes,
                out.backup.display()
            );
            Ok(())
        }
        MetaCommand::Recover { node_id } => {
            let meta_dir = args.data_dir.join(strata_broker::broker::META_DIR);
            let r = strata_broker::recover::recover_topics(&args.data_dir, &meta_dir, node_id)
                .context("recover topics from partition directories")?;
            for (name, id, partitions) in &r.created {
                println!(
                    "created topic {name} (id {id}, {partitions} partitions, retention.ms=-1 \
                     retention.bytes=-1: set its configs again)"
                );
            }
            for (from, to) in &r.reattached {
                println!("re-attached {} as {}", from.display(), to.display());
            }
            for (path, why) in &r.skipped {
                println!("left alone: {} ({why})", path.display());
            }
            println!(
                "recovered {} topics, re-attached {} directories, left {} alone",
                r.created.len(),
                r.reattached.len(),
                r.skipped.len()
            );
            Ok(())
        }
    }
}
