package dev.panpipe.zerocopy.ring;

import dev.panpipe.process.JavaCommand;
import dev.panpipe.process.Redirect;
import dev.panpipe.process.Subprocess;
import dev.panpipe.zerocopy.kernel.NoChildrenLeft;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The system calls of a ring end's wait (sched_getcpu, the futex, poll on a pidfd) are made now and then, from
 * code the JIT may not have compiled. There the JDK counts a method handle's calls and, at the 128th, generates
 * code specialized to it: tens of kilobytes allocated at that moment, which RingBenchmark.fillRead saw in a
 * measured iteration now and then. Syscalls makes those calls at link time instead; in a fresh JVM run
 * interpreted, no call after a handle's first may allocate.
 */
@Timeout(60)
@ExtendWith(NoChildrenLeft.class)
class WaitCallsAllocationTest {

    @Test
    void shouldAllocateNothingOnAnyCallOfAWaitsSystemCallsAfterTheFirst() throws Exception {
        List<String> cmd = JavaCommand.of(WaitCallsMain.class,
                List.of("-Xint", "--patch-module", "dev.panpipe.zerocopy=" + Path.of("target", "test-classes").toAbsolutePath()),
                List.of());
        try (Subprocess child = Subprocess.builder(cmd).stdout(Redirect.pipe()).stderr(Redirect.inherit()).start()) {
            List<String> lines = new String(child.stdout().asInputStream().readAllBytes(), StandardCharsets.UTF_8).lines().toList();
            assertEquals(0, child.waitFor().code(), "the child failed: " + lines);
            assertEquals(4, lines.size(), lines.toString());
            for (String line : lines) {
                String[] f = line.split(" ");
                assertEquals(0, Long.parseLong(f[1]), f[0] + " allocated " + f[1] + " bytes on its call number " + f[2]);
            }
        }
    }
}
