//! The `ferrotail` binary: Promtail's command line, exit codes and output streams. No logic.

use std::process::ExitCode;

/// mimalloc: the per-line path allocates small strings at a high rate, which glibc's malloc
/// serves at a fraction of the speed (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// On x86_64 musl (the release image), `memcpy`, `memmove`, `memset`, `memcmp` and `bcmp` come
/// from this crate instead of musl's slow ones (see crates/memfns); elsewhere it links nothing.
use memfns as _;

use ferrotail::cli;
use ferrotail::config::{Config, ConfigError};
use tokio_util::sync::CancellationToken;

const EXPAND_HINT: &str = ". Use `-config.expand-env=true` flag if you want to expand environment variables in your config file";

fn log_error(msg: &str, err: &str) {
    let ts = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.9fZ");
    eprintln!("level=error ts={ts} caller=main.rs msg={msg:?} error={err:?}");
}

fn main() -> ExitCode {
    // Return freed memory to the OS 5 ms after it is freed and commit arena memory on demand: a
    // shipper's memory should track what it holds, not its peak. The hot path reuses its large
    // buffers (read blocks, entry chunks, batch blocks), but the per-line strings are freed on
    // another thread than the one that allocated them, which empties whole pages: returned at
    // once (delay 0), they were faulted in again at once (page faults and `madvise` were 15% of
    // the CPU). 5 ms keeps them for the next lines for about 1 MB more at the peak (BENCHMARKS.md,
    // "CPU per line"). mimalloc reads these when it initialises, before main, so the process
    // re-executes itself once with them set (same PID, same arguments). Values already in the
    // environment are kept.
    if std::env::var_os("MIMALLOC_ARENA_EAGER_COMMIT").is_none() {
        use std::os::unix::process::CommandExt;
        if let Ok(exe) = std::env::current_exe() {
            let mut cmd = std::process::Command::new(exe);
            cmd.args(std::env::args_os().skip(1))
                .env("MIMALLOC_ARENA_EAGER_COMMIT", "0");
            if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
                cmd.env("MIMALLOC_PURGE_DELAY", "5");
            }
            // exec only returns on failure; then run as we are.
            let _ = cmd.exec();
        }
    }
    let flags = match cli::parse(std::env::args().skip(1)) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            eprint!("{}", cli::usage());
            eprintln!("Run with -help to get list of available parameters");
            return ExitCode::from(2);
        }
    };
    if flags.help {
        print!("{}", cli::usage());
        return ExitCode::from(2);
    }
    if flags.version {
        println!(
            "ferrotail, version {} (promtail-compatible 3.4.6) (branch: , revision: )\n  build user:       \n  build date:       \n  go version:       rust\n  platform:         {}/{}\n  tags:             ferrotail",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH
        );
        return ExitCode::SUCCESS;
    }
    // Without -config.file, Promtail runs on its defaults and the flags
    // (`cat app.log | promtail -stdin -client.url=…`); start-up then needs a client.
    let (path, loaded) = match flags.config_file.clone() {
        Some(path) => {
            let loaded = Config::load(&path, flags.expand_env);
            (path, loaded)
        }
        None => {
            if flags.check_syntax {
                println!("Invalid config file");
                return ExitCode::from(1);
            }
            (String::new(), Config::from_text("", None, false))
        }
    };
    let mut config = match loaded {
        Ok(c) => c,
        Err(ConfigError::Parse { file, msg }) => {
            let hint = if flags.expand_env { "" } else { EXPAND_HINT };
            println!("Unable to parse config: {file}: {msg}{hint}");
            return ExitCode::from(1);
        }
        Err(e) => {
            println!("Unable to parse config: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = config.apply_overrides(&flags.overrides) {
        log_error("error creating promtail", &e.to_string());
        return ExitCode::from(1);
    }
    let raw = &config.raw;
    if let Err(e) =
        ferrotail::telemetry::logging::init(&raw.server.log_level, &raw.server.log_format)
    {
        println!("Unable to parse config: {path}: {e}");
        return ExitCode::from(1);
    }
    for w in flags
        .warnings
        .iter()
        .cloned()
        .chain(ferrotail::config::ignored_key_warnings(raw))
    {
        tracing::warn!("{w}");
    }
    // Standard input redirected from a file switches to stdin mode as `-stdin` does.
    if !flags.check_syntax && ferrotail::stdin::enabled(&config) {
        config.raw.target_config.stdin = true;
    }
    // ferrotail's -check-syntax runs every start-up check too, so it fails early where Promtail
    // would only fail when started.
    if let Err(e) = ferrotail::check::validate_startup(&config) {
        log_error("error creating promtail", &e.to_string());
        if flags.check_syntax {
            println!("Invalid config file: {e}");
        }
        return ExitCode::from(1);
    }
    if flags.check_syntax {
        println!("Valid config file! No syntax issues found");
        return ExitCode::SUCCESS;
    }
    if flags.print_config_stderr {
        eprintln!(
            "---\n# Loki Config\n# (version={}, ferrotail)\n{}",
            env!("CARGO_PKG_VERSION"),
            ferrotail::config::redacted_text(&config)
        );
    }
    if flags.log_config_reverse_order {
        for line in ferrotail::config::redacted_text(&config).lines().rev() {
            tracing::info!("{line}");
        }
    }
    // File-system calls of readers, glob walks and rotation checks run on a pool of their own
    // (`core::blocking`: a few threads, more only while calls hang); positions saves and file_sd
    // reads on tokio's blocking pool, which keeps its default bound of 512 threads (a lower
    // bound would buy nothing: the threads exist only while calls run).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            log_error(
                "error creating promtail",
                &format!("cannot start the runtime: {e}"),
            );
            return ExitCode::from(1);
        }
    };
    let source = ferrotail::run::ReloadSource {
        path: path.clone(),
        expand_env: flags.expand_env,
        overrides: flags.overrides.clone(),
    };
    let opts = ferrotail::run::RunOptions {
        dry_run: flags.dry_run,
        inspect: flags.inspect,
    };
    let result = runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        tokio::spawn(ferrotail::shutdown::handle_signals(shutdown.clone()));
        if ferrotail::stdin::enabled(&config) {
            return ferrotail::stdin::run(config, opts, shutdown).await;
        }
        ferrotail::run::run_with_reload(config, opts, shutdown, Some(source)).await
    });
    // A reader stuck in a blocking file-system call must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log_error("error creating promtail", &e);
            ExitCode::from(1)
        }
    }
}
