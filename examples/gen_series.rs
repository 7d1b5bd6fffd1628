//! Writes a synthetic PET/CT study for benchmarks: `gen_series DIR PET_SLICES PET_MATRIX CT_SLICES CT_MATRIX`.
//! Uses the same instance writer as the integration tests.
#[path = "../tests/common/dicomgen.rs"]
mod dicomgen;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        eprintln!("usage: gen_series DIR PET_SLICES PET_MATRIX CT_SLICES CT_MATRIX");
        std::process::exit(2);
    }
    let n = |i: usize| -> u32 {
        args[i].parse().unwrap_or_else(|_| {
            eprintln!("gen_series: `{}` is not a number", args[i]);
            std::process::exit(2)
        })
    };
    let dir = std::path::Path::new(&args[1]);
    let pet = dicomgen::SeriesSpec::pet(n(2), n(3) as u16);
    let ct = dicomgen::SeriesSpec {
        study: pet.study.clone(),
        ..dicomgen::SeriesSpec::ct(n(4), n(5) as u16)
    };
    let files = pet.write(&dir.join("pet")).len() + ct.write(&dir.join("ct")).len();
    println!("wrote {files} instances to {}", dir.display());
}
