package dev.panpipe.bindings;

import dev.panpipe.bindings.linux.cmsghdr;
import dev.panpipe.bindings.linux.epoll_event;
import dev.panpipe.bindings.linux.futex_waitv;
import dev.panpipe.bindings.linux.iovec;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.bindings.linux.msghdr;
import dev.panpipe.bindings.linux.pollfd;
import dev.panpipe.bindings.linux.posix_spawn_file_actions_t;
import dev.panpipe.bindings.linux.posix_spawnattr_t;
import dev.panpipe.bindings.linux.rlimit;
import dev.panpipe.bindings.linux.siginfo_t;
import dev.panpipe.bindings.linux.sigaction;
import dev.panpipe.bindings.linux.sigset_t;
import dev.panpipe.bindings.linux.stat;
import dev.panpipe.bindings.linux.timespec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The generated layouts and constants against the C compiler on this machine: a C program that includes
 * the very header jextract read ({@code jextract/linux.h}) prints each {@code sizeof}/{@code offsetof}/
 * constant, and every one must equal what the bindings say. No expected number is typed in here.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class CLayoutTest {

    /** C expression -> the value the generated bindings give for it. */
    private static Map<String, Long> expectations() {
        Map<String, Long> m = new LinkedHashMap<>();
        // ---- struct sizes, offsets and alignments ----
        m.put("sizeof(struct pollfd)", pollfd.sizeof());
        m.put("offsetof(struct pollfd, events)", pollfd.events$offset());
        m.put("offsetof(struct pollfd, revents)", pollfd.revents$offset());
        m.put("sizeof(struct epoll_event)", epoll_event.layout().byteSize());
        m.put("_Alignof(struct epoll_event)", epoll_event.layout().byteAlignment());
        m.put("offsetof(struct epoll_event, data)", epoll_event.data$offset());
        m.put("sizeof(struct iovec)", iovec.sizeof());
        m.put("offsetof(struct iovec, iov_len)", iovec.iov_len$offset());
        m.put("sizeof(struct msghdr)", msghdr.sizeof());
        m.put("offsetof(struct msghdr, msg_iov)", msghdr.msg_iov$offset());
        m.put("offsetof(struct msghdr, msg_iovlen)", msghdr.msg_iovlen$offset());
        m.put("offsetof(struct msghdr, msg_control)", msghdr.msg_control$offset());
        m.put("offsetof(struct msghdr, msg_controllen)", msghdr.msg_controllen$offset());
        m.put("offsetof(struct msghdr, msg_flags)", msghdr.msg_flags$offset());
        m.put("sizeof(struct cmsghdr)", cmsghdr.sizeof());
        m.put("offsetof(struct cmsghdr, cmsg_level)", cmsghdr.cmsg_level$offset());
        m.put("offsetof(struct cmsghdr, cmsg_type)", cmsghdr.cmsg_type$offset());
        m.put("CMSG_LEN(0)", cmsghdr.sizeof());
        m.put("sizeof(siginfo_t)", siginfo_t.sizeof());
        m.put("offsetof(siginfo_t, si_code)", siginfo_t.si_code$offset());
        m.put("offsetof(siginfo_t, si_pid)", siginfo_t._sifields$offset()
                + siginfo_t._sifields._sigchld$offset() + siginfo_t._sifields._sigchld.si_pid$offset());
        m.put("offsetof(siginfo_t, si_status)", siginfo_t._sifields$offset()
                + siginfo_t._sifields._sigchld$offset() + siginfo_t._sifields._sigchld.si_status$offset());
        m.put("sizeof(struct stat)", stat.sizeof());
        m.put("offsetof(struct stat, st_mode)", stat.st_mode$offset());
        m.put("offsetof(struct stat, st_size)", stat.st_size$offset());
        m.put("sizeof(posix_spawn_file_actions_t)", posix_spawn_file_actions_t.sizeof());
        m.put("sizeof(posix_spawnattr_t)", posix_spawnattr_t.layout().byteSize());
        m.put("sizeof(sigset_t)", sigset_t.sizeof());
        m.put("sizeof(struct sigaction)", sigaction.sizeof());
        m.put("offsetof(struct sigaction, sa_handler)", sigaction.__sigaction_handler$offset()
                + sigaction.__sigaction_handler.sa_handler$offset());
        m.put("offsetof(struct sigaction, sa_mask)", sigaction.sa_mask$offset());
        m.put("offsetof(struct sigaction, sa_flags)", sigaction.sa_flags$offset());
        m.put("sizeof(struct rlimit)", rlimit.sizeof());
        m.put("offsetof(struct rlimit, rlim_cur)", rlimit.rlim_cur$offset());
        m.put("offsetof(struct rlimit, rlim_max)", rlimit.rlim_max$offset());
        m.put("sizeof(pid_t)", linux_h.C_INT.byteSize());
        m.put("sizeof(uid_t)", linux_h.C_INT.byteSize());     // the int linux_h.geteuid() returns
        m.put("sizeof(struct timespec)", timespec.sizeof());
        // ---- constants ----
        m.put("O_CLOEXEC", (long) linux_h.O_CLOEXEC());
        m.put("O_NONBLOCK", (long) linux_h.O_NONBLOCK());
        m.put("O_NOFOLLOW", (long) linux_h.O_NOFOLLOW());
        m.put("O_PATH", (long) linux_h.O_PATH());
        m.put("F_GETFD", (long) linux_h.F_GETFD());
        m.put("FD_CLOEXEC", (long) linux_h.FD_CLOEXEC());
        m.put("F_DUPFD_CLOEXEC", (long) linux_h.F_DUPFD_CLOEXEC());
        m.put("F_GETPIPE_SZ", (long) linux_h.F_GETPIPE_SZ());
        m.put("F_SETPIPE_SZ", (long) linux_h.F_SETPIPE_SZ());
        m.put("FIONREAD", (long) linux_h.FIONREAD());
        m.put("AT_FDCWD", (long) linux_h.AT_FDCWD());
        m.put("S_IFMT", (long) linux_h.S_IFMT());
        m.put("S_IFIFO", (long) linux_h.S_IFIFO());
        m.put("S_IFBLK", (long) linux_h.S_IFBLK());
        m.put("S_IFLNK", (long) linux_h.S_IFLNK());
        m.put("PIPE_BUF", (long) linux_h.PIPE_BUF());
        m.put("EPIPE", (long) linux_h.EPIPE());
        m.put("EAGAIN", (long) linux_h.EAGAIN());
        m.put("EINTR", (long) linux_h.EINTR());
        m.put("EBADF", (long) linux_h.EBADF());
        m.put("ENOENT", (long) linux_h.ENOENT());
        m.put("ECHILD", (long) linux_h.ECHILD());
        m.put("ENOTRECOVERABLE", (long) linux_h.ENOTRECOVERABLE());
        m.put("POLLIN", (long) linux_h.POLLIN());
        m.put("POLLOUT", (long) linux_h.POLLOUT());
        m.put("POLLHUP", (long) linux_h.POLLHUP());
        m.put("EPOLLIN", (long) linux_h.EPOLLIN());
        m.put("EPOLLET", Integer.toUnsignedLong(linux_h.EPOLLET()));   // 1u << 31: uint32_t in C, int bits in Java
        m.put("EFD_CLOEXEC", (long) linux_h.EFD_CLOEXEC());
        m.put("SIGTERM", (long) linux_h.SIGTERM());
        m.put("SIGKILL", (long) linux_h.SIGKILL());
        m.put("SIGPIPE", (long) linux_h.SIGPIPE());
        m.put("SIGCHLD", (long) linux_h.SIGCHLD());
        m.put("SIGTSTP", (long) linux_h.SIGTSTP());
        m.put("SIGTTOU", (long) linux_h.SIGTTOU());
        m.put("SIGURG", (long) linux_h.SIGURG());
        m.put("(long) SIG_IGN", Syscalls.SIG_IGN);   // typed in: jextract takes no macro cast to a function pointer
        m.put("P_PID", (long) linux_h.P_PID());
        m.put("P_PIDFD", (long) linux_h.P_PIDFD());
        m.put("WEXITED", (long) linux_h.WEXITED());
        m.put("WNOHANG", (long) linux_h.WNOHANG());
        m.put("WSTOPPED", (long) linux_h.WSTOPPED());
        m.put("WNOWAIT", (long) linux_h.WNOWAIT());
        m.put("CLD_EXITED", (long) linux_h.CLD_EXITED());
        m.put("CLD_KILLED", (long) linux_h.CLD_KILLED());
        m.put("CLD_DUMPED", (long) linux_h.CLD_DUMPED());
        m.put("CLD_TRAPPED", (long) linux_h.CLD_TRAPPED());
        m.put("CLD_STOPPED", (long) linux_h.CLD_STOPPED());
        m.put("RLIMIT_NOFILE", (long) linux_h.RLIMIT_NOFILE());
        m.put("MFD_CLOEXEC", (long) linux_h.MFD_CLOEXEC());
        m.put("MFD_ALLOW_SEALING", (long) linux_h.MFD_ALLOW_SEALING());
        m.put("F_ADD_SEALS", (long) linux_h.F_ADD_SEALS());
        m.put("F_GET_SEALS", (long) linux_h.F_GET_SEALS());
        m.put("F_SEAL_SEAL", (long) linux_h.F_SEAL_SEAL());
        m.put("F_SEAL_SHRINK", (long) linux_h.F_SEAL_SHRINK());
        m.put("F_SEAL_GROW", (long) linux_h.F_SEAL_GROW());
        m.put("F_SEAL_WRITE", (long) linux_h.F_SEAL_WRITE());
        m.put("SPLICE_F_GIFT", (long) linux_h.SPLICE_F_GIFT());
        m.put("SPLICE_F_NONBLOCK", (long) linux_h.SPLICE_F_NONBLOCK());
        m.put("SCM_RIGHTS", (long) linux_h.SCM_RIGHTS());
        m.put("SOL_SOCKET", (long) linux_h.SOL_SOCKET());
        m.put("MSG_NOSIGNAL", (long) linux_h.MSG_NOSIGNAL());
        m.put("POSIX_SPAWN_SETSIGMASK", (long) linux_h.POSIX_SPAWN_SETSIGMASK());
        m.put("POSIX_SPAWN_SETSIGDEF", (long) linux_h.POSIX_SPAWN_SETSIGDEF());
        m.put("POSIX_SPAWN_SETPGROUP", (long) linux_h.POSIX_SPAWN_SETPGROUP());
        m.put("SYS_pidfd_open", (long) linux_h.SYS_pidfd_open());
        m.put("SYS_pidfd_send_signal", (long) linux_h.SYS_pidfd_send_signal());
        m.put("SYS_futex", (long) linux_h.SYS_futex());
        m.put("SYS_gettid", (long) linux_h.SYS_gettid());
        m.put("SYS_write", (long) linux_h.SYS_write());
        m.put("FUTEX_WAIT", (long) linux_h.FUTEX_WAIT());
        m.put("FUTEX_WAKE", (long) linux_h.FUTEX_WAKE());
        m.put("SYS_futex_waitv", (long) linux_h.SYS_futex_waitv());
        m.put("FUTEX_32", (long) linux_h.FUTEX_32());
        m.put("FUTEX_WAITV_MAX", (long) linux_h.FUTEX_WAITV_MAX());
        m.put("sizeof(struct futex_waitv)", futex_waitv.sizeof());
        m.put("offsetof(struct futex_waitv, val)", futex_waitv.val$offset());
        m.put("offsetof(struct futex_waitv, uaddr)", futex_waitv.uaddr$offset());
        m.put("offsetof(struct futex_waitv, flags)", futex_waitv.flags$offset());
        m.put("EOWNERDEAD", (long) linux_h.EOWNERDEAD());
        m.put("ETIMEDOUT", (long) linux_h.ETIMEDOUT());
        m.put("(long) MAP_FAILED", linux_h.MAP_FAILED().address());
        return m;
    }

    /**
     * Constants typed into {@link Syscalls} because the headers jextract read predate them: checked wherever the
     * C compiler's headers define them (the program prints them under {@code #ifdef}), and a sign, once they do,
     * to generate them instead.
     */
    private static Map<String, Long> newerThanTheHeaders() {
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("PIDFD_SIGNAL_PROCESS_GROUP", (long) Syscalls.PIDFD_SIGNAL_PROCESS_GROUP);   // <linux/pidfd.h>, Linux 6.9
        return m;
    }

    @Test
    void shouldMatchTheCCompilersSizesOffsetsAndConstants(@TempDir Path dir) throws Exception {
        assumeTrue(onPath("gcc"), "gcc is not installed: cannot check the generated layouts against the C compiler");
        Path header = Path.of(System.getProperty("basedir", "."), "jextract", "linux.h").toAbsolutePath();
        assertTrue(Files.isRegularFile(header), "the header jextract reads is missing: " + header);

        Map<String, Long> expected = expectations();
        Map<String, Long> optional = newerThanTheHeaders();
        StringBuilder c = new StringBuilder()
                .append("#define _GNU_SOURCE 1\n")
                .append("#include \"").append(header).append("\"\n")   // the same headers jextract saw
                .append("#include <stddef.h>\n#include <stdio.h>\n#include <sys/mman.h>\n\n")
                .append("int main(void) {\n");
        for (String expr : expected.keySet()) {
            c.append("    printf(\"%s\\t%ld\\n\", \"").append(expr).append("\", (long) (").append(expr).append("));\n");
        }
        for (String name : optional.keySet()) {
            c.append("#ifdef ").append(name).append("\n");
            c.append("    printf(\"%s\\t%ld\\n\", \"").append(name).append("\", (long) (").append(name).append("));\n");
            c.append("#endif\n");
        }
        c.append("    return 0;\n}\n");
        Path source = dir.resolve("layouts.c");
        Path binary = dir.resolve("layouts");
        Files.writeString(source, c);

        Result cc = run(dir, "gcc", "-std=gnu11", "-Wall", "-o", binary.toString(), source.toString());
        assertEquals(0, cc.code, "gcc failed:\n" + cc.output);
        Result out = run(dir, binary.toString());
        assertEquals(0, out.code, out.output);

        Map<String, Long> actual = new LinkedHashMap<>();
        for (String line : out.output.split("\n")) {
            if (line.isEmpty()) continue;
            String[] kv = line.split("\t");
            actual.put(kv[0], Long.parseLong(kv[1]));
        }
        optional.forEach((name, java) -> {
            if (actual.containsKey(name)) expected.put(name, java);
        });
        assertEquals(expected.keySet(), actual.keySet(), "the C program printed other names than asked");
        List<String> mismatches = new ArrayList<>();
        expected.forEach((expr, java) -> {
            if (!java.equals(actual.get(expr))) mismatches.add(expr + ": C says " + actual.get(expr) + ", bindings say " + java);
        });
        assertTrue(mismatches.isEmpty(), "generated bindings disagree with the C compiler:\n" + String.join("\n", mismatches));
    }

    @Test
    void shouldLayOutEpollEventPackedAsTheX86KernelAbiRequires() {
        // The one layout whose shape depends on the architecture: packed on x86_64 only.
        assumeTrue("amd64".equals(System.getProperty("os.arch")) || "x86_64".equals(System.getProperty("os.arch")),
                "epoll_event is packed only on x86_64");
        assertEquals(12, epoll_event.layout().byteSize());
        assertEquals(4, epoll_event.data$offset());
    }

    private record Result(int code, String output) {
    }

    private static Result run(Path dir, String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        p.getOutputStream().close();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(50, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor();
            fail(String.join(" ", command) + " did not finish");
        }
        return new Result(p.exitValue(), output);
    }

    private static boolean onPath(String program) {
        String path = System.getenv().getOrDefault("PATH", "/usr/bin:/bin");
        for (String d : path.split(":")) {
            if (Files.isExecutable(Path.of(d.isEmpty() ? "." : d, program))) return true;
        }
        return false;
    }
}
