package dev.panpipe.zerocopy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Running out of fds halfway through making shared memory, a ring, a queue or a lock, or receiving an fd:
 * a typed error naming EMFILE, and nothing left open ({@link dev.panpipe.testing.FdExhaustion}, in a JVM of
 * its own because it lowers its fd limit).
 */
@ExtendWith(NoLeaks.class)
class FdExhaustionTest {
    @Test
    @Timeout(120)
    void everyOperationThatRunsOutOfFdsPartWayFailsCleanly() throws Exception {
        List<String> report = new ArrayList<>();
        try (ChildJvm child = ChildJvm.start(FdExhaustionMain.class, new long[0])) {
            try {
                for (;;) report.add(child.readLine());
            } catch (java.io.IOException ended) {
                // the child ended: its exit status says how
            }
            assertEquals(dev.panpipe.process.ExitStatus.exited(0), child.process().waitFor(),
                    "the sweep found violations:\n" + String.join("\n", report));
        }
        System.out.println(String.join("\n", report));
    }
}
