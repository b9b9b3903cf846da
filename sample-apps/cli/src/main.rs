//! `bitnet`: the command-line sample app (under construction).
fn main() {}
