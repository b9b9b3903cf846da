//! The process's CPU time, for CPU-use figures.
//!
//! Linux and Android: `utime + stime` of `/proc/self/stat`, in clock ticks of `USER_HZ`
//! (100 per second on every Linux ABI). Other platforms report `None` until their reader lands
//! (Apple: `getrusage`).

/// Clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`).
const USER_HZ: f64 = 100.0;

/// CPU time this process has used so far (user + system, all threads), in seconds; `None`
/// where it cannot be read.
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_stat_cpu_seconds(&stat)
}

/// `utime + stime` of a `/proc/<pid>/stat` line, in seconds. The command name (field 2) may
/// hold spaces and parentheses, so fields are counted after its closing `)`: state is field 3,
/// utime 14, stime 15.
fn parse_stat_cpu_seconds(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let line = "42 (a (b) c) R 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
        assert_eq!(parse_stat_cpu_seconds(line), Some(3.0));
        assert_eq!(parse_stat_cpu_seconds("42 (x) R 1"), None);
        assert_eq!(parse_stat_cpu_seconds("no parenthesis"), None);
    }

    #[test]
    fn cpu_time_grows_with_work_on_linux() {
        if cfg!(target_os = "linux") {
            let before = process_cpu_seconds().expect("stat");
            let start = std::time::Instant::now();
            let mut x = 0u64;
            while start.elapsed().as_millis() < 100 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
            let after = process_cpu_seconds().expect("stat");
            if before == 0.0 && after == 0.0 {
                // qemu-user's emulated /proc/self/stat reports no CPU time at all.
                eprintln!("skipped: this /proc/self/stat reports no CPU time (emulator)");
                return;
            }
            assert!(after > before);
        }
    }
}
