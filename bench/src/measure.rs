//! Process-level measurements: CPU time from `getrusage(RUSAGE_SELF)` (all threads of this
//! process, user + system) and resident memory from `/proc/self/status`.

use std::time::Duration;

/// User + system CPU time consumed so far by this whole process.
pub fn process_cpu() -> Duration {
    // SAFETY: getrusage writes one plain-old-data struct we own; RUSAGE_SELF is always valid.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let micros = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000 + tv.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

/// A `kB` field of `/proc/self/status` (`VmRSS`, `VmHWM` …), in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Resident memory now, KiB.
pub fn rss_kib() -> u64 {
    status_kib("VmRSS")
}

/// Peak resident memory of this process so far, KiB.
pub fn peak_rss_kib() -> u64 {
    status_kib("VmHWM")
}

/// Bytes the allocator has handed out and not yet got back (glibc `mallinfo2`: small
/// blocks in use in every arena plus mmapped blocks), KiB. Unlike RSS it ignores free
/// memory the allocator keeps, so it shows what the program itself holds.
pub fn heap_kib() -> u64 {
    // SAFETY: mallinfo2 only reads the allocator's counters and returns a plain struct.
    let info = unsafe { libc::mallinfo2() };
    ((info.uordblks + info.hblkhd) / 1024) as u64
}

/// Raise the soft open-files limit to the hard one: the idle workload holds 1000
/// connections, past the usual soft limit of 1024 once the runtime's own fds are counted.
pub fn raise_fd_limit() {
    // SAFETY: get/setrlimit read and write one plain struct we own.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
