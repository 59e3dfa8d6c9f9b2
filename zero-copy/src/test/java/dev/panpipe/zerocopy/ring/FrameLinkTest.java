package dev.panpipe.zerocopy.ring;

import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.worker.Worker;
import dev.panpipe.worker.WorkerSpec;
import dev.panpipe.worker.Workers;
import dev.panpipe.zerocopy.NoLeaks;
import dev.panpipe.zerocopy.kernel.NoChildrenLeft;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.junit.jupiter.api.Assertions.*;

@Timeout(60)
@ExtendWith(NoChildrenLeft.class)
class FrameLinkTest {

    @Test
    void shouldCloseTheFirstRingWhenTheSecondCannotBeMade() {
        var fds = NoLeaks.openFds();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> FrameLink.create(4, 4096, 3, 4096));
        assertTrue(e.getMessage().contains("slotCount must be a power of two") && e.getMessage().endsWith(": 3"), e.getMessage());
        NoLeaks.assertNoFdLeftSince(fds, "a link that could not be made");
    }

    @Test
    void shouldRoundTripFramesThroughAWorkerProcessOverTwoRings() throws Exception {
        try (Workers workers = Workers.create();
             FrameLink link = FrameLink.create(4, 1920 * 1080 * 3, 4, 1920 * 1080 * 3)) {
            Worker worker = workers.start(link.handTo(WorkerSpec.java("ring-echo", RingEchoWorker.class)));
            link.watch(worker.pid());
            for (long seq = 0; seq < 20; seq++) {
                int w = seq % 2 == 0 ? 1920 : 640, h = seq % 2 == 0 ? 1080 : 480;
                FrameClaim c = link.out().claim(w, h, PixelFormat.RGB8);
                long sum = RingPeerMain.fill(c.pixels(), seq);
                c.commit();
                FrameView back = link.in().take();
                assertEquals(w, back.width());
                assertEquals(h, back.height());
                assertEquals(PixelFormat.RGB8, back.format());
                assertEquals(sum, RingPeerMain.sum(back.pixels()));
                back.release();
            }
            link.out().close();
            assertThrows(FrameRingClosedException.class, () -> link.in().take());
            workers.close();   // waits for the worker to exit
            assertTrue(worker.exitStatus().orElseThrow().success(), "worker ended " + worker.exitStatus());
        }
    }

    @Test
    void shouldFailAWaitWhenTheWorkerIsKilled() throws Exception {
        try (Workers workers = Workers.create(); FrameLink link = FrameLink.create(2, 4096, 2, 4096)) {
            Worker worker = workers.start(link.handTo(WorkerSpec.java("ring-echo", RingEchoWorker.class)));
            link.watch(worker.pid());
            ProcessHandle.of(worker.pid()).orElseThrow().destroyForcibly();   // SIGKILL; panpipe's reaper collects it
            PeerDiedException e = assertThrows(PeerDiedException.class, () -> link.in().take());
            assertEquals(worker.pid(), e.pid());
        }
    }
}
