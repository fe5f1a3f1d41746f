//! InfluxDB line protocol: any body either parses or fails with an error naming a line, and
//! every point it yields is well formed and maps onto series without panicking, the same way
//! through `append_samples` and `SeriesMapper`.
#![no_main]
use floe_node::ingest::line_protocol::{LineParser, Precision, SeriesMapper, append_samples};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the precision, so every conversion is reached.
    let (precision, body) = match data.split_first() {
        Some((p, rest)) => (
            [
                Precision::Nanoseconds,
                Precision::Microseconds,
                Precision::Milliseconds,
                Precision::Seconds,
                Precision::Minutes,
                Precision::Hours,
            ][usize::from(*p) % 6],
            rest,
        ),
        None => (Precision::Nanoseconds, data),
    };
    let mut samples = Vec::new();
    let mut mapper = SeriesMapper::new(Some("fuzz"), 0);
    let mut points = 0;
    let res = LineParser::new(precision).parse(body, |line| {
        points += 1;
        assert!(line.line_no >= 1 && !line.fields.is_empty() && !line.measurement.is_empty());
        assert!(
            line.tags
                .iter()
                .all(|(k, v)| !k.is_empty() && !v.is_empty())
        );
        assert!(
            line.fields
                .iter()
                .all(|(k, v)| !k.is_empty() && v.as_f64().is_none_or(f64::is_finite))
        );
        // The two mappings agree: same success, same number of samples.
        let a = append_samples(line, Some("fuzz"), 0, &mut samples);
        let b = mapper.add(line);
        assert_eq!(a.as_ref().ok(), b.as_ref().ok());
        Ok(())
    });
    match res {
        Ok(stats) => assert_eq!(stats.lines, points),
        Err(e) => {
            assert!(e.line().is_some());
            let _ = e.to_string();
        }
    }
});
