package dev.panpipe.internal.linux;

import dev.panpipe.io.LeakCheck;
import dev.panpipe.testing.VirtualThreads;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

/**
 * Virtual threads reading and writing a shared pipe end (a worker's inherited stdin and stdout) with one carrier
 * ({@link InheritedEndOneCarrierMain}, in a JVM of its own for that option). Their blocking read(2) and write(2)
 * used to pin the carrier until the peer, another virtual thread, came: a deadlock, reported within seconds.
 */
@ExtendWith(LeakCheck.class)
class InheritedEndOneCarrierTest {
    @TempDir
    Path dir;

    @Test
    @Timeout(90)
    void shouldReadAndWriteASharedEndFromVirtualThreadsWithOneCarrier() throws Exception {
        VirtualThreads.runWithOneCarrier(InheritedEndOneCarrierMain.class, dir, 60);
    }
}
