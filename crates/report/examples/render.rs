//! Renders results documents into a report folder, without the `pushpoll`
//! binary: `cargo run -p pushpoll-report --example render -- OUT_DIR FILE...`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args.next().ok_or("usage: render OUT_DIR RESULTS.json...")?;
    let inputs = pushpoll_report::load_documents(args)?;
    let files = pushpoll_report::write_report(&inputs, std::path::Path::new(&out))?;
    println!("{}", files.markdown.display());
    println!("{}", files.html.display());
    for c in &files.charts {
        println!("{}", c.display());
    }
    Ok(())
}
