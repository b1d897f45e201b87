//! The `strata` executable: the window with no arguments, the CLI otherwise.

use clap::Parser;

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info,ort=warn")).init();
    let cli = strata::cli::Cli::parse();
    let outcome = if cli.command.is_none() {
        strata::data_dir::DataDir::resolve(cli.data_dir.as_deref()).and_then(strata::ui::run_window).map(|()| 0)
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
