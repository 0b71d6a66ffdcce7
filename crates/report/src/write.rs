//! The report on disk: `report.md`, a self-contained `report.html` and one
//! `.svg` per chart. It sits above the report and its two renderings, which
//! only lay out the same [`Report`](crate::Report).

use std::path::{Path, PathBuf};

use crate::report::{build, svg_file};
use crate::{ReportError, ReportInput};

/// The files [`write_report`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    /// `report.md` (links the `.svg` files beside it).
    pub markdown: PathBuf,
    /// `report.html`, self-contained.
    pub html: PathBuf,
    /// One `{id}.svg` per drawn chart, in report order.
    pub charts: Vec<PathBuf>,
}

/// Writes `report.md`, `report.html` and one `.svg` per chart into `out_dir`
/// (created if missing) and returns their paths.
pub fn write_report(inputs: &[ReportInput], out_dir: &Path) -> Result<ReportFiles, ReportError> {
    let report = build(inputs)?;
    std::fs::create_dir_all(out_dir).map_err(|source| ReportError::Write {
        path: out_dir.to_path_buf(),
        source,
    })?;
    let write = |name: &str, text: &str| -> Result<PathBuf, ReportError> {
        let path = out_dir.join(name);
        std::fs::write(&path, text).map_err(|source| ReportError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    };
    let charts = report
        .charts()
        .map(|c| write(&svg_file(c.id), &standalone_svg(&c.svg)))
        .collect::<Result<Vec<_>, _>>()?;
    let markdown = write("report.md", &crate::markdown::render(&report))?;
    let html = write("report.html", &crate::html::render(&report))?;
    Ok(ReportFiles {
        markdown,
        html,
        charts,
    })
}

/// An inline SVG as a file of its own: with the XML declaration.
fn standalone_svg(svg: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{svg}")
}
