//! Builds the small C helper that does Redis's long-double arithmetic (INCRBYFLOAT), so results
//! are byte-identical to Redis's: Rust has no 80-bit float type.
fn main() {
    println!("cargo:rerun-if-changed=csrc/longdouble.c");
    cc::Build::new()
        .file("csrc/longdouble.c")
        .opt_level(2)
        .compile("shoal_longdouble");
}
