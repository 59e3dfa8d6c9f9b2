package dev.panpipe.internal.linux;

import dev.panpipe.bindings.Errno;
import dev.panpipe.process.SpawnException;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * posix_spawn's EPERM while joining a group that is there, in this session: setpgid would have joined it, so
 * the EPERM is a later step's. No unprivileged way makes execve fail with EPERM on every machine (it takes a
 * security module, a seccomp filter or file capabilities), so the diagnosis is given the errno, and the group it
 * looks up is a real one: this JVM's own.
 */
class SpawnDiagnosisGroupTest {
    @Test
    void shouldNotBlameSetpgidForAGroupOfThisSession() throws Exception {
        String stat = Files.readAllLines(Path.of("/proc/self/stat")).getFirst();
        int ownGroup = Integer.parseInt(stat.substring(stat.lastIndexOf(')') + 2).split(" ")[2]);
        SpawnException e = SpawnDiagnosis.ofGroupJoin("sleep", Path.of("/usr/bin/sleep"), ownGroup, Errno.EPERM);
        assertTrue(e.getMessage().startsWith("cannot start sleep: posix_spawn /usr/bin/sleep: EPERM"), e.getMessage());
        assertTrue(e.getMessage().contains("process group " + ownGroup + " is in this session, so setpgid could join it: "
                + "the EPERM came from a later step of the spawn"), e.getMessage());
        assertFalse(e.getMessage().contains("no such group"), e.getMessage());
    }
}
