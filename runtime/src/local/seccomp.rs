//! The seccomp filter of every sandboxed process (Qd, the app, the environment's install):
//! syscalls a web app or a package build never needs fail with `EPERM`, so that code in a
//! sandbox cannot widen it — no new namespaces (user namespaces above all, the usual first step
//! of a kernel exploit), no mounts, no kernel keyring, no tracing or reading other processes,
//! no loading kernel code. Everything else is allowed.
//!
//! The filters are compiled once by `seccompiler` and handed to bubblewrap (`--add-seccomp-fd`),
//! which installs them right before it executes the program, after its own setup.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::OnceLock;

use super::sandbox::memfd_with;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// Syscalls refused outright.
const DENIED: &[libc::c_long] = &[
    // namespaces: entering, creating, and the mount API
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_open_tree,
    libc::SYS_move_mount,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    // the kernel keyring (not namespaced: shared with the host's users)
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_keyctl,
    // other processes' memory and execution
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_kcmp,
    // kernel code, tracing and devices
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_reboot,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_syslog,
    libc::SYS_vhangup,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_iopl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ioperm,
];

/// `clone` flags that create namespaces: `clone` with any of them is refused like `unshare`.
const NAMESPACE_FLAGS: &[libc::c_int] = &[
    libc::CLONE_NEWNS,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWCGROUP,
];

/// The compiled filters, as bytes of `struct sock_filter` arrays.
struct Programs {
    deny: Vec<u8>,
    clone3: Vec<u8>,
}

fn programs() -> Result<&'static Programs, String> {
    static PROGRAMS: OnceLock<Result<Programs, String>> = OnceLock::new();
    PROGRAMS.get_or_init(compile).as_ref().map_err(Clone::clone)
}

fn compile() -> Result<Programs, String> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|err| format!("no seccomp filter for {}: {err:?}", std::env::consts::ARCH))?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        DENIED.iter().map(|&call| (call, Vec::new())).collect();
    // The flags are `clone`'s first argument on every supported architecture.
    let clone_rules = NAMESPACE_FLAGS
        .iter()
        .map(|&flag| {
            let flag = flag as u64;
            let condition = SeccompCondition::new(
                0,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(flag),
                flag,
            )?;
            SeccompRule::new(vec![condition])
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("building the seccomp filter: {err:?}"))?;
    rules.insert(libc::SYS_clone, clone_rules);
    let deny = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(|err| format!("building the seccomp filter: {err:?}"))?;
    // `clone3` passes its flags in memory, out of a filter's reach: it reports "not
    // implemented", and the C library falls back to `clone`, whose flags the filter checks.
    let clone3 = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .map_err(|err| format!("building the seccomp filter: {err:?}"))?;
    Ok(Programs {
        deny: bytes_of(deny)?,
        clone3: bytes_of(clone3)?,
    })
}

fn bytes_of(filter: SeccompFilter) -> Result<Vec<u8>, String> {
    let program: BpfProgram = filter
        .try_into()
        .map_err(|err| format!("compiling the seccomp filter: {err:?}"))?;
    let mut bytes = Vec::with_capacity(program.len() * 8);
    for instruction in program {
        bytes.extend_from_slice(&instruction.code.to_ne_bytes());
        bytes.push(instruction.jt);
        bytes.push(instruction.jf);
        bytes.extend_from_slice(&instruction.k.to_ne_bytes());
    }
    Ok(bytes)
}

/// Checks that the filters compile on this machine (once, at start).
pub(crate) fn check() -> Result<(), String> {
    programs().map(|_| ())
}

/// Fresh file descriptors holding the filters, read from the start by bubblewrap (one set per
/// sandbox: a descriptor's offset moves as it is read).
pub(crate) fn filter_fds() -> io::Result<Vec<OwnedFd>> {
    let programs = programs().map_err(io::Error::other)?;
    [&programs.deny, &programs.clone3]
        .into_iter()
        .map(|bytes| memfd_with(bytes))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filters_compile_for_this_machine() {
        let programs = programs().unwrap();
        assert!(!programs.deny.is_empty() && programs.deny.len() % 8 == 0);
        assert!(!programs.clone3.is_empty() && programs.clone3.len() % 8 == 0);
        assert_eq!(filter_fds().unwrap().len(), 2);
    }
}
