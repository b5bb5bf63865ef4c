//! Process limits a server holding thousands of sockets needs.

/// Raises this process's open-file limit (`RLIMIT_NOFILE`) to its hard limit
/// and returns the limit now in force (0 when it cannot be read). Children
/// inherit it. A gateway with 10,000 WebSocket clients holds 10,000
/// descriptors; the usual soft limit is 1,024.
pub fn raise_fd_limit() -> libc::rlim_t {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid, initialised struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) != 0 {
            return 0;
        }
        if l.rlim_cur < l.rlim_max {
            let wanted = libc::rlimit {
                rlim_cur: l.rlim_max,
                rlim_max: l.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
                l = wanted;
            }
        }
    }
    l.rlim_cur
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_limit_ends_at_the_hard_limit() {
        let now = super::raise_fd_limit();
        assert!(now > 0);
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit with a valid struct.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) }, 0);
        assert_eq!(l.rlim_cur, l.rlim_max);
        assert_eq!(now, l.rlim_cur);
    }
}
