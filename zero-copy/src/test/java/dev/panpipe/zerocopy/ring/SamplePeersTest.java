package dev.panpipe.zerocopy.ring;

import dev.panpipe.process.Subprocess;
import dev.panpipe.zerocopy.kernel.NoChildrenLeft;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The helper every peer test ends with: it must give back a peer's output, and must not wait for ever on one that hangs. */
@ExtendWith(NoChildrenLeft.class)
class SamplePeersTest {
    @Test
    void shouldGiveBackWhatAPeerPrintedAndHowItExited() throws Exception {
        try (Subprocess peer = SamplePeers.start(null, List.of("sh", "-c", "echo frames 12 sum 34; echo oops >&2; exit 3"))) {
            SamplePeers.Output out = SamplePeers.finish(peer);
            assertEquals(3, out.exit());
            assertEquals(12, out.get("frames"));
            assertEquals(34, out.get("sum"));
            assertTrue(out.text().contains("oops"), "stderr is merged: " + out);
        }
    }

    @Test
    void shouldKillAPeerThatGoesSilentAndFailWithWhatItHadPrinted() throws Exception {
        try (Subprocess peer = SamplePeers.start(null, List.of("sh", "-c", "echo started 1; exec sleep 600"))) {
            AssertionError e = assertThrows(AssertionError.class, () -> SamplePeers.finish(peer, Duration.ofMillis(300)));
            assertTrue(e.getMessage().contains("printed nothing for 300 ms"), e.getMessage());
            assertTrue(e.getMessage().contains("started 1"), e.getMessage());
            assertFalse(peer.isAlive(), "the silent peer was killed");
            assertTrue(peer.waitFor().signaled(), "ended by a signal: " + peer.waitFor());
        }
    }

    @Test
    void shouldKillAPeerThatClosesItsOutputButDoesNotExit() throws Exception {
        try (Subprocess peer = SamplePeers.start(null, List.of("sh", "-c", "echo done 1; exec sleep 600 >&- 2>&-"))) {
            AssertionError e = assertThrows(AssertionError.class, () -> SamplePeers.finish(peer, Duration.ofMillis(300)));
            assertTrue(e.getMessage().contains("did not exit 300 ms after its end of output"), e.getMessage());
            assertTrue(e.getMessage().contains("done 1"), e.getMessage());
            assertTrue(peer.waitFor().signaled(), "ended by a signal: " + peer.waitFor());
        }
    }
}
