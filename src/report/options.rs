//! How a report is computed: the interval length, corrected or uncorrected latency,
//! how many scatter points are kept, how far out of order records may come.

/// How a report is computed.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// Length of one interval of the time series, ns (> 0).
    pub interval_ns: u64,
    /// Response time from the intended start for scheduled (open-loop) requests.
    pub corrected: bool,
    /// Successful requests kept for the scatter plot (a uniform random sample beyond).
    pub scatter_cap: usize,
    /// Failed requests kept for the scatter plot: all of them up to this many.
    pub error_points_cap: usize,
    /// How far (ns) a record may complete before one already seen and still land in
    /// its own interval. 0 for the merge of sample files, which is exactly ordered;
    /// some for a results.csv, whose rows the seed tool wrote roughly in order.
    pub reorder_window_ns: u64,
}

impl ReportOptions {
    /// For a summary alone (`barrage merge`, `report --compare`): no scatter points
    /// are sampled, since nothing draws them.
    pub fn summary_only(self) -> Self {
        ReportOptions {
            scatter_cap: 0,
            error_points_cap: 0,
            ..self
        }
    }
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            interval_ns: 1_000_000_000,
            corrected: true,
            scatter_cap: 200_000,
            error_points_cap: 50_000,
            reorder_window_ns: 0,
        }
    }
}
