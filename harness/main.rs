fn main() {
    std::process::exit(sockbench::cli::main());
}
