package dev.panpipe.zerocopy.ring;

import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.zerocopy.Mappings;
import dev.panpipe.zerocopy.NoLeaks;
import dev.panpipe.testing.RandomCases;
import dev.panpipe.zerocopy.kernel.NoChildrenLeft;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Random sequences of everything the two ends of a ring can be asked to do — claim (plain bytes or pixels, of
 * varying sizes), fill, commit, abort, take, release, close either end, in any order, misuse included — run
 * against a real ring and against a model that is a queue of the committed frames. Whatever the order:
 * the consumer gets exactly the committed frames, in order, each with its own size, format and every byte
 * the producer wrote (nothing lost, duplicated, torn or overwritten); a non-blocking claim fails exactly
 * when every slot holds a frame not yet released; misuse and closed ends give their documented exceptions;
 * no fd is left. Both ends are in this process and never wait ({@code tryClaim}, {@code tryTake}), so a
 * failing sequence is deterministic and {@link RandomCases} shrinks it to a short one. It found that a claim
 * committed after its producer closed was published after the end of the stream.
 */
@Timeout(300)
@ExtendWith(NoChildrenLeft.class)
class FrameRingModelTest {
    enum Kind { CLAIM, COMMIT, ABORT, TAKE, RELEASE, COMMIT_TWICE, RELEASE_TWICE, CLOSE_PRODUCER, CLOSE_CONSUMER }

    /** One step; {@code size} picks the frame's shape for a claim (ignored otherwise). */
    record Step(Kind kind, int size) {
        @Override
        public String toString() {
            return kind == Kind.CLAIM ? "CLAIM(" + size + ")" : kind.name();
        }
    }

    /** A frame as committed: its shape, and the byte its pixels are filled with. */
    record Frame(long sequence, int width, int height, PixelFormat format, long length, byte fill) {
    }

    /** Weights of the kinds of step: mostly the four calls of a stream, now and then misuse or a close. */
    private static final int[] WEIGHTS = {12, 10, 2, 12, 10, 1, 1, 1, 1};

    /** One sequence of steps on a ring of 1, 2 or 4 slots, the consumer on its own mapping or the creator's. */
    record Case(List<Step> steps, int log2Slots, boolean consumerMapsItsOwn) {
        static Case random(Random r) {
            List<Step> steps = new ArrayList<>();
            for (int n = 1 + r.nextInt(60); n > 0; n--) steps.add(new Step(Kind.values()[RandomCases.weighted(r, WEIGHTS)], r.nextInt(8)));
            return new Case(List.copyOf(steps), r.nextInt(3), r.nextBoolean());
        }

        /** Without a run of steps (halves first, then single steps), a smaller ring, the creator's mapping. */
        List<Case> smaller() {
            List<Case> out = new ArrayList<>();
            for (List<Step> fewer : RandomCases.withoutRuns(steps)) out.add(new Case(fewer, log2Slots, consumerMapsItsOwn));
            if (log2Slots > 0) out.add(new Case(steps, log2Slots - 1, consumerMapsItsOwn));
            if (consumerMapsItsOwn) out.add(new Case(steps, log2Slots, false));
            return out;
        }
    }

    @Test
    void theConsumerGetsExactlyTheCommittedFramesWhateverTheOrderOfCalls() {
        RandomCases.check("ring model", 500, Case::random, Case::smaller, c -> {
            Map<Integer, String> fds = NoLeaks.openFds();
            // The consumer on the creator's mapping, or on a second mapping of the same memory (another address,
            // as in another process).
            try (FrameRing ring = FrameRing.create(1 << c.log2Slots(), 3 * 4096);
                 FrameRing consumerSide = c.consumerMapsItsOwn() ? FrameRing.attach(Mappings.second(ring.memory().nativeHandle())) : ring) {
                new Run(ring, consumerSide).play(c.steps());
            } finally {
                NoLeaks.assertNoFdLeftSince(fds, "steps " + c.steps());
            }
        });
    }

    /** The real ends and the model, stepped together. */
    private static final class Run {
        private final FrameRing ring;
        private final FrameProducer producer;
        private final FrameConsumer consumer;
        private final ArrayDeque<Frame> committed = new ArrayDeque<>();   // committed, not yet taken
        private int held;                  // frames taken or committed and not released: what fills the ring
        private long nextSequence;         // the sequence the next claim gets
        private FrameClaim claim;
        private Frame claimed;
        private FrameClaim committedClaim; // the claim last committed (for COMMIT_TWICE)
        private FrameView view;
        private FrameView releasedView;    // the view last released (for RELEASE_TWICE)
        private boolean producerClosed, consumerClosed;

        Run(FrameRing ring, FrameRing consumerSide) throws IOException {
            this.ring = ring;
            this.producer = ring.producer(WaitStrategy.sleepAtOnce());
            this.consumer = consumerSide.consumer(WaitStrategy.sleepAtOnce());
        }

        void play(List<Step> steps) throws IOException {
            for (Step s : steps) {
                switch (s.kind()) {
                    case CLAIM -> claim(s.size());
                    case COMMIT -> commit();
                    case ABORT -> abort();
                    case TAKE -> take();
                    case RELEASE -> release();
                    // Claims and views are flyweights, one per slot: a stale one is only stale while no newer
                    // claim or view is out (with one slot, the next claim is the same object, open again).
                    case COMMIT_TWICE -> {
                        if (committedClaim != null && claim == null) assertThrows(IllegalStateException.class, committedClaim::commit);
                    }
                    case RELEASE_TWICE -> {
                        if (releasedView != null && view == null) assertThrows(IllegalStateException.class, releasedView::release);
                    }
                    case CLOSE_PRODUCER -> {
                        producer.close();
                        producerClosed = true;
                    }
                    case CLOSE_CONSUMER -> {
                        consumer.close();
                        consumerClosed = true;
                    }
                }
            }
        }

        private void claim(int size) throws IOException {
            // This end closed, then misuse, then the consumer closed: the order the checks are documented in.
            if (producerClosed) {
                assertThrows(FrameRingClosedException.class, () -> producer.tryClaimBytes(1));
                return;
            }
            if (claim != null) {
                assertThrows(IllegalStateException.class, () -> producer.tryClaimBytes(1));
                return;
            }
            if (consumerClosed) {
                assertThrows(FrameRingClosedException.class, () -> producer.tryClaimBytes(1));
                return;
            }
            // Shapes: plain bytes of several lengths, and pixels of each format and a few sizes.
            PixelFormat format = size < 3 ? null : PixelFormat.values()[size % PixelFormat.values().length];
            int width = 1 + 9 * size, height = 1 + 5 * size;   // 64x36 RGBA8 at most: 9216 bytes
            long length = format == null ? 1 + 1000L * size : (long) width * height * format.bytesPerPixel();
            FrameClaim c = format == null ? producer.tryClaimBytes(length) : producer.tryClaim(width, height, format);
            if (held == ring.slotCount()) {
                assertNull(c, "a claim succeeded while all " + held + " slots hold unreleased frames");
                return;
            }
            assertNotNull(c, "no slot for a claim with " + held + " of " + ring.slotCount() + " slots held");
            assertEquals(nextSequence, c.sequence());
            assertEquals(length, c.pixels().byteSize());
            byte fill = (byte) (31 * nextSequence + size);
            c.pixels().fill(fill);
            claim = c;
            claimed = new Frame(nextSequence, format == null ? (int) length : width, format == null ? 1 : height, format, length, fill);
        }

        private void commit() throws IOException {
            if (claim == null) return;
            if (producerClosed) {   // like a write to a closed fd: refused, and nothing is published
                assertThrows(FrameRingClosedException.class, claim::commit);
                claim = null;
                return;
            }
            claim.commit();
            committed.add(claimed);
            held++;
            nextSequence++;
            committedClaim = claim;
            claim = null;
        }

        private void abort() {
            if (claim == null) return;
            claim.abort();
            claim = null;   // the sequence is not used up: the next claim gets it
        }

        private void take() throws IOException {
            if (consumerClosed) {
                assertThrows(FrameRingClosedException.class, consumer::tryTake);
                return;
            }
            if (view != null) {
                assertThrows(IllegalStateException.class, consumer::tryTake);
                return;
            }
            if (committed.isEmpty()) {
                if (producerClosed) assertThrows(FrameRingClosedException.class, consumer::tryTake);
                else assertNull(consumer.tryTake(), "a frame was taken that was never committed");
                return;
            }
            Frame want = committed.remove();
            FrameView v = consumer.tryTake();
            assertNotNull(v, "committed frame " + want.sequence() + " was not there to take");
            assertEquals(want.sequence(), v.sequence());
            assertEquals(want.length(), v.payloadLength());
            assertEquals(want.format(), v.format());
            assertEquals(want.width(), v.width());
            assertEquals(want.height(), v.height());
            MemorySegment pixels = v.pixels();
            long wrong = pixels.byteSize() == 0 ? -1 : pixels.mismatch(MemorySegment.ofArray(filled(pixels.byteSize(), want.fill())));
            assertEquals(-1, wrong, "frame " + want.sequence() + " differs from what was committed at byte " + wrong);
            view = v;
        }

        private void release() throws IOException {
            if (view == null) return;
            view.release();
            held--;
            releasedView = view;
            view = null;
        }

        private static byte[] filled(long n, byte b) {
            byte[] a = new byte[(int) n];
            java.util.Arrays.fill(a, b);
            return a;
        }
    }
}
