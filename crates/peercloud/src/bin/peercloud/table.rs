//! Tables for people: columns padded to their widest cell, the last one
//! left as it is (a JSON value may be long).

/// Three columns under `titles`, two spaces apart.
pub(crate) fn three_columns(titles: [&str; 3], rows: &[[String; 3]]) -> String {
    let width = |column: usize| {
        rows.iter()
            .map(|row| row[column].chars().count())
            .chain([titles[column].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let (first, second) = (width(0), width(1));
    let [a, b, c] = titles;
    let mut table = format!("{a:first$}  {b:second$}  {c}\n");
    for [x, y, z] in rows {
        table += &format!("{x:first$}  {y:second$}  {z}\n");
    }
    table
}
