package dev.panpipe.zerocopy.ring;

import dev.panpipe.connection.ProtocolException;
import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.zerocopy.NoLeaks;
import dev.panpipe.zerocopy.SharedMemory;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static dev.panpipe.zerocopy.ring.FrameRingDescriptor.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * A ring's header and descriptors are written by another process, which may be broken or hostile. Whatever
 * it scribbles there, this process must get either a working ring whose views lie inside their slots, or a
 * typed error: never an out-of-bounds access, a view of the wrong memory, a hang, or a leaked fd.
 *
 * <p>jqwik generates the scribbles: one to four stores of 1, 2, 4 or 8 bytes, mostly over the layout's own
 * fields (with edge values such as 0, -1, 1 and the extremes, which jqwik favours) and sometimes anywhere in
 * the header and descriptor table; a failing case is shrunk to the fewest, smallest stores that break it.
 * {@code FrameRingTest} checks that each field's error names it; this class checks the combinations.
 */
class FrameRingCorruptionProperties {
    private static final int SLOT_BYTES = 4096;

    /** The layout's fields: offset and width. */
    private static final int[][] FIELDS = {
            {MAGIC_OFFSET, 4}, {VERSION_OFFSET, 2}, {HEADER_LENGTH_OFFSET, 2}, {SLOT_COUNT_OFFSET, 4},
            {FLAGS_OFFSET, 4}, {SLOT_SIZE_OFFSET, 8}, {SLOTS_OFFSET_OFFSET, 8}, {RING_LENGTH_OFFSET, 8},
            {PRODUCER_PID_OFFSET, 4}, {CONSUMER_PID_OFFSET, 4}, {PRODUCER_STATE_OFFSET, 4}, {CONSUMER_STATE_OFFSET, 4},
            {PRODUCER_POSITION_OFFSET, 8}, {PRODUCER_POSITION_OFFSET, 4}, {PRODUCER_CPU_OFFSET, 4},
            {CONSUMER_POSITION_OFFSET, 8}, {CONSUMER_POSITION_OFFSET, 4}, {CONSUMER_CPU_OFFSET, 4},
            {CONSUMER_WAITING_OFFSET, 4}, {PRODUCER_WAITING_OFFSET, 4},
    };
    /** A descriptor's fields: offset within the descriptor and width. */
    private static final int[][] DESCRIPTOR_FIELDS = {
            {SEQUENCE_OFFSET, 8}, {TIMESTAMP_OFFSET, 8}, {PAYLOAD_LENGTH_OFFSET, 8}, {WIDTH_OFFSET, 4},
            {HEIGHT_OFFSET, 4}, {STRIDE_OFFSET, 4}, {PIXEL_FORMAT_OFFSET, 4},
    };

    /** One store of the low {@code width} bytes of {@code value} at {@code offset} (little-endian). */
    record Scribble(long offset, int width, long value) {
        void applyTo(MemorySegment s) {
            switch (width) {
                case 1 -> s.set(ValueLayout.JAVA_BYTE, offset, (byte) value);
                case 2 -> s.set(ValueLayout.JAVA_SHORT_UNALIGNED, offset, (short) value);
                case 4 -> s.set(ValueLayout.JAVA_INT_UNALIGNED, offset, (int) value);
                default -> s.set(ValueLayout.JAVA_LONG_UNALIGNED, offset, value);
            }
        }
    }

    @Provide
    Arbitrary<List<Scribble>> scribbles() {
        Arbitrary<Long> values = Arbitraries.oneOf(
                Arbitraries.longs(),
                Arbitraries.longs().between(-3, 70),                       // small counts, positions, codes
                Arbitraries.of(4095L, 4096L, 4097L, 8192L, 1L << 31, 1L << 32, (1L << 32) - 1, Long.MIN_VALUE, Long.MAX_VALUE));
        Arbitrary<int[]> field = Arbitraries.oneOf(
                Arbitraries.of(FIELDS),
                Combinators.combine(Arbitraries.integers().between(0, 3), Arbitraries.of(DESCRIPTOR_FIELDS))
                        .as((slot, f) -> new int[]{(int) descriptorOffset(slot) + f[0], f[1]}),
                // anywhere in the header and the descriptor table (4 descriptors at most here)
                Combinators.combine(Arbitraries.integers().between(0, HEADER_LENGTH + 4 * DESCRIPTOR_LENGTH - 8), Arbitraries.of(1, 2, 4, 8))
                        .as((offset, width) -> new int[]{offset, width}));
        return Combinators.combine(field, values).as((f, v) -> new Scribble(f[0], f[1], v)).list().ofMinSize(1).ofMaxSize(4);
    }

    @Property(tries = 400)
    void attachingGivesAProtocolErrorOrARingThatFitsItsMapping(@ForAll("scribbles") List<Scribble> scribbles,
                                                               @ForAll @IntRange(min = 0, max = 2) int log2Slots) throws IOException {
        Map<Integer, String> fds = NoLeaks.openFds();
        try (FrameRing original = FrameRing.create(1 << log2Slots, SLOT_BYTES)) {
            scribbles.forEach(s -> s.applyTo(original.segment()));
            FrameRing ring;
            try {
                ring = FrameRing.attach(SharedMemory.map(dup(original)));
            } catch (ProtocolException e) {
                assertNamesAField(e);
                return;
            }
            try (ring) {
                long end = ring.slotOffset(ring.slotCount() - 1) + ring.slotSize();
                assertTrue(end <= ring.segment().byteSize(), "slots end at " + end + " in a mapping of " + ring.segment().byteSize());
            }
        } finally {
            NoLeaks.assertNoFdLeftSince(fds, "attach with " + scribbles);
        }
    }

    /**
     * A producer commits some frames, the header and descriptors are scribbled on, and a consumer takes what it
     * can: every frame it is given lies inside its slot with a descriptor that adds up, or it gets a typed error.
     */
    @Property(tries = 600)
    void aConsumerGetsFramesInsideTheirSlotsOrATypedError(@ForAll("scribbles") List<Scribble> scribbles,
                                                          @ForAll @IntRange(min = 0, max = 2) int log2Slots,
                                                          @ForAll @IntRange(min = 0, max = 4) int committed,
                                                          @ForAll boolean pollWithATimeout) throws IOException {
        Map<Integer, String> fds = NoLeaks.openFds();
        try (FrameRing ring = FrameRing.create(1 << log2Slots, SLOT_BYTES)) {
            FrameProducer producer = ring.producer(WaitStrategy.sleepAtOnce());
            for (int i = 0; i < Math.min(committed, ring.slotCount()); i++) {
                FrameClaim claim = i % 2 == 0 ? producer.claim(16, 8, PixelFormat.RGB8) : producer.claimBytes(100 + i);
                claim.pixels().fill((byte) i);
                claim.commit();
            }
            scribbles.forEach(s -> s.applyTo(ring.segment()));
            try {
                FrameConsumer consumer = ring.consumer(WaitStrategy.sleepAtOnce());
                for (int i = 0; i <= ring.slotCount(); i++) {
                    FrameView view = pollWithATimeout ? consumer.poll(1, TimeUnit.MILLISECONDS) : consumer.tryTake();
                    if (view == null) break;
                    assertInsideItsSlot(ring, view);
                    view.release();
                }
            } catch (ProtocolException e) {
                assertNamesAField(e);
            } catch (FrameRingClosedException | PeerDiedException | IllegalStateException e) {
                // a scribbled state or pid word: "closed", "died" or "already has a live consumer"
                assertNotNull(e.getMessage());
            }
        } finally {
            NoLeaks.assertNoFdLeftSince(fds, "take with " + scribbles);
        }
    }

    /** The producer's side: a scribbled consumer position never lets it claim a slot the consumer still holds. */
    @Property(tries = 400)
    void aProducerClaimsOnlyFreeSlotsInsideTheRingOrGetsATypedError(@ForAll("scribbles") List<Scribble> scribbles,
                                                                   @ForAll @IntRange(min = 0, max = 2) int log2Slots,
                                                                   @ForAll @IntRange(min = 0, max = 4) int committed) throws IOException {
        Map<Integer, String> fds = NoLeaks.openFds();
        try (FrameRing ring = FrameRing.create(1 << log2Slots, SLOT_BYTES)) {
            FrameProducer producer = ring.producer(WaitStrategy.sleepAtOnce());
            int slots = ring.slotCount();
            int n = Math.min(committed, slots);
            for (int i = 0; i < n; i++) producer.claimBytes(64).commit();   // nobody released these
            scribbles.forEach(s -> s.applyTo(ring.segment()));
            long consumerPosition = ring.segment().get(ValueLayout.JAVA_LONG, CONSUMER_POSITION_OFFSET);
            try {
                for (int i = 0; i <= slots; i++) {
                    FrameClaim claim = producer.tryClaimBytes(64);
                    if (claim == null) break;
                    // Nothing was released: the slot is free only on the first lap, or if the scribbled consumer
                    // position (which the producer may believe only up to its own position) says so.
                    long sequence = producer.position();
                    boolean believable = consumerPosition <= sequence && consumerPosition > sequence - slots;
                    assertTrue(sequence < slots || believable, "claimed sequence " + sequence + " while the consumer position is "
                            + consumerPosition + " in a ring of " + slots);
                    assertTrue(claim.pixels().address() >= ring.segment().address() + ring.slotOffset(0)
                            && claim.pixels().address() + claim.pixels().byteSize() <= ring.segment().address() + ring.segment().byteSize());
                    claim.commit();
                }
            } catch (ProtocolException e) {
                assertNamesAField(e);
            } catch (FrameRingClosedException | PeerDiedException e) {
                assertNotNull(e.getMessage());
            }
        } finally {
            NoLeaks.assertNoFdLeftSince(fds, "claim with " + scribbles);
        }
    }

    private static void assertInsideItsSlot(FrameRing ring, FrameView view) {
        MemorySegment pixels = view.pixels();
        int slot = (int) view.sequence() & (ring.slotCount() - 1);
        long slotStart = ring.segment().address() + ring.slotOffset(slot);
        assertTrue(pixels.address() >= slotStart && pixels.address() + pixels.byteSize() <= slotStart + ring.slotSize(),
                "frame " + view.sequence() + " pixels at +" + (pixels.address() - ring.segment().address()) + " length "
                        + pixels.byteSize() + " are not inside slot " + slot);
        assertEquals(view.payloadLength(), pixels.byteSize());
        if (view.format() != null) {
            long rowBytes = (long) view.width() * view.format().bytesPerPixel();
            assertTrue(view.width() > 0 && view.height() > 0 && Integer.toUnsignedLong(view.stride()) >= rowBytes);
            assertTrue(Integer.toUnsignedLong(view.stride()) * (view.height() - 1) + rowBytes <= pixels.byteSize());
        }
        long sum = 0;   // every byte of the view is readable
        for (long i = 0; i < pixels.byteSize(); i++) sum += pixels.get(ValueLayout.JAVA_BYTE, i);
        assertTrue(sum >= -128 * pixels.byteSize());
    }

    private static void assertNamesAField(ProtocolException e) {
        assertNotNull(e.field(), e.getMessage());
        assertFalse(e.field().isBlank(), e.getMessage());
    }

    private static int dup(FrameRing ring) throws IOException {
        return dev.panpipe.bindings.Syscalls.fcntl((int) ring.memory().nativeHandle(), dev.panpipe.bindings.linux.linux_h.F_DUPFD_CLOEXEC(), 3);
    }
}
