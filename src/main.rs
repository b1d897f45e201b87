//! The `strata` executable: the window with no arguments, the CLI otherwise.

use clap::Parser;

fn main() {
    // A write past a file-size limit (RLIMIT_FSIZE) must fail with EFBIG, which
    // the indexer reports and recovers from, instead of killing the process mid-commit.
    // SAFETY: sets a disposition (ignore) before any thread starts; no handler code runs.
    #[cfg(unix)]
    #[allow(unsafe_code, reason = "setting a signal disposition has no safe std API")]
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    strata::memory::tune_allocator();
    let cli = strata::cli::Cli::parse();
    // Libraries stay quiet by default (symphonia alone can print hundreds of
    // warnings for one damaged file); Strata reports per-file problems itself.
    let default_filter = match cli.verbose {
        0 => "off,strata=info",
        1 => "warn,strata=debug",
        _ => "debug",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_filter)).init();
    let outcome = if cli.command.is_none() {
        strata::storage::data_dir::DataDir::resolve(cli.data_dir.as_deref()).and_then(strata::ui::run_window).map(|()| 0)
    } else {
        strata::cli::run(cli)
    };
    match outcome {
        Ok(code) => std::process::exit(code),
        Err(error) => {
            eprintln!("strata: {error:#}");
            std::process::exit(2);
        }
    }
}
