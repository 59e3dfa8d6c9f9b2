package dev.panpipe.process;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.io.LeakCheck;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Process groups with real processes: a child leads a new group or joins one ({@code /proc/PID/stat} says
 * which), and a group that cannot be joined is a typed error.
 */
@ExtendWith(LeakCheck.class)
@Timeout(60)
class ProcessGroupTest {
    private static SubprocessBuilder sleeper() {
        return Subprocess.builder("sleep", "30").stdin(Redirect.discard()).stdout(Redirect.discard()).stderr(Redirect.discard());
    }

    @Test
    void shouldStartAChildInANewGroupOrInAnExistingOne() throws Exception {
        try (Subprocess leader = sleeper().processGroup(0).start();
             Subprocess member = sleeper().processGroup(leader.pid()).start();
             Subprocess plain = sleeper().start()) {
            assertEquals(leader.pid(), pgrp(leader.pid()), "processGroup(0): a new group, numbered as the child");
            assertEquals(leader.pid(), pgrp(member.pid()), "processGroup(pgid): the child joined that group");
            assertEquals(pgrp(ProcessHandle.current().pid()), pgrp(plain.pid()), "by default, this process's group");
        }
    }

    @Test
    void shouldRefuseAGroupNumberNoProcessCanHave() {
        IllegalArgumentException negative = assertThrows(IllegalArgumentException.class, () -> sleeper().processGroup(-3));
        assertTrue(negative.getMessage().contains("-3"), negative.getMessage());
        IllegalArgumentException huge = assertThrows(IllegalArgumentException.class, () -> sleeper().processGroup(1L << 32));
        assertTrue(huge.getMessage().contains(String.valueOf(1L << 32)), huge.getMessage());
    }

    /** A number no process has (above any pid_max): setpgid's EPERM in the child, said of the group, and no child. */
    @Test
    void shouldNameTheGroupThatCannotBeJoined() {
        SpawnException e = assertThrows(SpawnException.class, () -> {
            try (Subprocess started = sleeper().processGroup(Integer.MAX_VALUE).start()) {
                // not expected: closed at once, so a failure here leaves no child to the next test
            }
        });
        assertTrue(e.getMessage().startsWith("cannot start sleep: posix_spawn "), e.getMessage());
        assertTrue(e.getMessage().contains("cannot join process group " + Integer.MAX_VALUE), e.getMessage());
        SyscallException cause = assertInstanceOf(SyscallException.class, e.getCause());
        assertEquals(Errno.EPERM, cause.errno());
        assertEquals(List.of(), ProcessHandle.current().children().toList());
    }

    /** Field 5 of /proc/PID/stat, the process group; the fields after the command's closing parenthesis. */
    private static long pgrp(long pid) throws IOException {
        String stat = Files.readAllLines(Path.of("/proc/" + pid + "/stat")).getFirst();
        String[] after = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(after[2]);   // state, ppid, pgrp
    }
}
