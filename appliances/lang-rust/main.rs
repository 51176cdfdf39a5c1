// Reads its args, its environment and a file, through Rust's std over WASI.
use std::{env, fs, process};

fn main() {
    let args: Vec<String> = env::args().collect();
    let greeting = env::var("GREETING").unwrap_or_else(|_| "Hi".to_string());
    println!("{} from Rust: {}", greeting, args.join(" "));

    match fs::read_to_string("/etc/motd") {
        Ok(text) => {
            for line in text.lines() {
                println!("/etc/motd: {}", line);
            }
        }
        Err(error) => {
            eprintln!("/etc/motd: {}", error);
            process::exit(1);
        }
    }
}
