//! petground-train: the offline training binary (issue: tools/train). Not built out yet.
fn main() {
    eprintln!("petground-train: not implemented yet (see the tools/train issue)");
    std::process::exit(1);
}
