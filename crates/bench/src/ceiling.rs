//! `loopback-ceiling`: the best case for a hot fetch on this machine — a
//! page-cached file pushed over loopback TCP with sendfile(2) and read by a
//! client into a 1 MiB buffer. No broker, no Kafka framing.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Instant;

use anyhow::Context as _;

use crate::cli::CeilingArgs;
use crate::report::{cpu_time, Report};

const MIB: usize = 1 << 20;

pub(crate) fn run(args: &CeilingArgs) -> anyhow::Result<()> {
    let path = args
        .dir
        .join(format!("strata-loopback-{}.bin", std::process::id()));
    let result = measure(args, &path);
    let _ = fs::remove_file(&path);
    result
}

fn measure(args: &CeilingArgs, path: &std::path::Path) -> anyhow::Result<()> {
    let file_bytes = args.file_mib as usize * MIB;
    {
        let mut f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let chunk: Vec<u8> = (0..MIB).map(|i| (i * 31 % 251) as u8).collect();
        for _ in 0..args.file_mib {
            f.write_all(&chunk)?;
        }
    }
    let total = file_bytes as u64 * u64::from(args.passes);

    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let reader = thread::spawn(move || -> std::io::Result<u64> {
        let mut sock = TcpStream::connect(addr)?;
        let mut buf = vec![0u8; MIB];
        let mut got = 0u64;
        while got < total {
            let n = sock.read(&mut buf)?;
            if n == 0 {
                break;
            }
            got += n as u64;
        }
        Ok(got)
    });
    let (sock, _) = listener.accept()?;
    let mut file = File::open(path)?;
    // Warm the page cache so the measurement is of the hot path only.
    std::io::copy(&mut file, &mut std::io::sink())?;

    let cpu0 = cpu_time();
    let start = Instant::now();
    for _ in 0..args.passes {
        let mut offset = 0u64;
        while offset < file_bytes as u64 {
            let want = (file_bytes as u64 - offset).min(1 << 30) as usize;
            let n =
                rustix::fs::sendfile(&sock, &file, Some(&mut offset), want).context("sendfile")?;
            anyhow::ensure!(n > 0, "sendfile wrote nothing");
        }
    }
    let got = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader thread panicked"))??;
    let elapsed = start.elapsed();

    let mut report = Report::new("loopback-sendfile");
    report.byte_rate(got, elapsed).cpu(cpu0, elapsed);
    report.print(args.json);
    Ok(())
}
