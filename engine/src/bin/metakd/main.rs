//! `metakd`: the command-line tool of the MetaKD engine.
fn main() {}
