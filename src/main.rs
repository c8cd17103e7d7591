fn main() -> anyhow::Result<()> {
    whoisit::cli::main()
}
