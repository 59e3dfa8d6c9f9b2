package dev.panpipe.zerocopy.shared;

import dev.panpipe.zerocopy.Mappings;
import dev.panpipe.zerocopy.NoLeaks;
import dev.panpipe.zerocopy.SharedMemory;
import dev.panpipe.zerocopy.internal.SharedRegion;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Shared values and arrays: their atomics, their headers and what attaching checks. */
@Timeout(60)
@ExtendWith(NoLeaks.class)
class SharedBlockTest {

    @Test
    void shouldGiveEveryTypeTheAtomicsOfItsJavaCounterpart() throws Exception {
        try (SharedInt i = SharedInt.create("i", 7); SharedLong l = SharedLong.create("l", 1L << 40);
             SharedDouble d = SharedDouble.create("d", 0.5)) {
            assertEquals(7, i.get());
            assertEquals(7, i.getAndAdd(3));
            assertEquals(12, i.addAndGet(2));
            assertEquals(13, i.incrementAndGet());
            assertFalse(i.compareAndSet(12, 0));
            assertTrue(i.compareAndSet(13, -1));
            assertEquals(-1, i.getAndSet(5));
            i.setPlain(6);
            assertEquals(6, i.getPlain());
            assertEquals(SharedType.INT, i.type());
            assertEquals(1, i.length());

            assertEquals((1L << 40) + 1, l.incrementAndGet());
            assertEquals(Long.MIN_VALUE, l.addAndGet(Long.MIN_VALUE - (1L << 40) - 1));
            assertTrue(l.compareAndSet(Long.MIN_VALUE, Long.MAX_VALUE));
            assertEquals(Long.MAX_VALUE, l.get());

            assertEquals(0.5, d.getAndAdd(0.25));
            assertEquals(1.75, d.addAndGet(1.0));
            assertTrue(d.compareAndSet(1.75, -0.0));
            assertFalse(d.compareAndSet(0.0, 1.0), "raw bits: 0.0 is not -0.0");
            d.set(Double.NaN);
            assertTrue(d.compareAndSet(Double.NaN, 2.0), "raw bits: NaN matches the same NaN");
            assertEquals(2.0, d.getAndSet(3.0));
            assertEquals(3.0, d.getPlain());
        }
    }

    @Test
    void shouldAddExactlyFromManyThreadsThroughTwoMappings() throws Exception {
        try (SharedDouble sum = SharedDouble.create("sum", 0); SharedLongArray counts = SharedLongArray.create("counts", 4);
             SharedDouble sum2 = SharedDouble.attach(Mappings.second(sum.nativeHandle()));
             SharedLongArray counts2 = SharedLongArray.attach(Mappings.second(counts.nativeHandle()))) {
            int perThread = 100_000;
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                SharedDouble s = t % 2 == 0 ? sum : sum2;
                SharedLongArray c = t % 2 == 0 ? counts : counts2;
                threads.add(Thread.ofPlatform().start(() -> {
                    for (int k = 0; k < perThread; k++) {
                        s.addAndGet(1.0);
                        c.getAndAdd(k & 3, 1);
                    }
                }));
            }
            for (Thread t : threads) t.join();
            assertEquals(4.0 * perThread, sum.get());
            assertArrayEquals(new long[]{perThread, perThread, perThread, perThread}, counts2.toArray());
        }
    }

    @Test
    void shouldIndexArraysOfEveryTypeAndNameTheBadIndex() throws Exception {
        try (SharedIntArray ints = SharedIntArray.create("ints", 3); SharedDoubleArray doubles = SharedDoubleArray.create("doubles", 2);
             SharedByteArray bytes = SharedByteArray.create("bytes", 16)) {
            ints.set(2, 9);
            assertEquals(9, ints.getAndAdd(2, 1));
            assertEquals(11, ints.addAndGet(2, 1));
            assertTrue(ints.compareAndSet(0, 0, 4));
            assertEquals(4, ints.getAndSet(0, 5));
            ints.setPlain(1, 6);
            assertArrayEquals(new int[]{5, 6, 11}, ints.toArray());
            IndexOutOfBoundsException e = assertThrows(IndexOutOfBoundsException.class, () -> ints.get(3));
            assertTrue(e.getMessage().contains("index 3") && e.getMessage().contains("length 3"), e.getMessage());
            assertThrows(IndexOutOfBoundsException.class, () -> ints.set(-1, 0));

            doubles.set(1, 1.5);
            assertEquals(2.0, doubles.addAndGet(1, 0.5));
            assertTrue(doubles.compareAndSet(0, 0.0, -2.0));
            assertArrayEquals(new double[]{-2.0, 2.0}, doubles.toArray());

            byte[] hello = "hello".getBytes(StandardCharsets.US_ASCII);
            bytes.copyFrom(hello, 0, 11, 5);
            assertEquals('h', bytes.get(11));
            bytes.set(0, (byte) 1);
            byte[] back = new byte[5];
            bytes.copyTo(11, back, 0, 5);
            assertArrayEquals(hello, back);
            assertEquals(16, bytes.data().byteSize());
            assertThrows(IndexOutOfBoundsException.class, () -> bytes.copyFrom(hello, 0, 12, 5));
            assertThrows(IndexOutOfBoundsException.class, () -> bytes.copyTo(-1, back, 0, 1));
        }
    }

    /**
     * Creating made the shared memory first and wrote the header next; a name the header could not take (null)
     * failed there and left the memfd open and mapped. The fds are what {@link NoLeaks} checks.
     */
    @Test
    void shouldLeaveNoSharedMemoryBehindWhenCreatingFails() {
        assertThrows(NullPointerException.class, () -> SharedLong.create(null, 0));
        assertThrows(NullPointerException.class, () -> SharedByteArray.create(null, 16));
        assertThrows(NullPointerException.class, () -> SharedLock.create(null));
    }

    @Test
    void shouldRefuseAttachingWhatTheHeaderDoesNotDescribeAndNameTheField() throws Exception {
        try (SharedInt i = SharedInt.create("an-int", 1); SharedLongArray array = SharedLongArray.create("three", 3)) {
            SharedHeaderException type = assertThrows(SharedHeaderException.class, () -> SharedLong.attach(Mappings.second(i.nativeHandle())));
            assertEquals("type", type.field());
            assertEquals(SharedType.INT.code(), type.value());
            assertEquals("shared block: type INT (2), expected LONG (3)", type.getMessage());
            assertEquals("type", assertThrows(SharedHeaderException.class, () -> SharedLock.attach(Mappings.second(i.nativeHandle()))).field());

            SharedHeaderException length = assertThrows(SharedHeaderException.class, () -> SharedLong.attach(Mappings.second(array.nativeHandle())));
            assertEquals("length", length.field());
            assertEquals(3, length.value());
            assertTrue(length.getMessage().contains("expected 1 (a single value)"), length.getMessage());

            try (SharedLongArray again = SharedLongArray.attach(Mappings.second(array.nativeHandle()))) {
                assertEquals(3, again.length());
                assertEquals("shared long array 'three'", again.toString());
            }
        }
        try (SharedMemory raw = SharedMemory.create("raw", 4096)) {
            SharedHeaderException magic = assertThrows(SharedHeaderException.class, () -> SharedInt.attach(Mappings.second(raw.nativeHandle())));
            assertEquals("magic", magic.field());
            assertTrue(magic.getMessage().startsWith("shared block: bad magic 0x00000000 (expected 0x42535050"), magic.getMessage());

            MemorySegment seg = raw.segment();
            BlockLayout.initialize(seg, SharedType.LONG, 1000, "forged");
            SharedHeaderException big = assertThrows(SharedHeaderException.class, () -> SharedLongArray.attach(Mappings.second(raw.nativeHandle())));
            assertEquals("length", big.field());
            assertEquals("shared block: length 1000 of LONG needs 8128 bytes, the segment has 4096", big.getMessage());
        }
    }

    @Test
    void shouldNameVersionElementSizeAndSizeWhenTheyAreWrong() throws Exception {
        try (SharedMemory raw = SharedMemory.create("raw", 4096)) {
            MemorySegment seg = raw.segment();
            BlockLayout.initialize(seg, SharedType.INT, 1, "x");
            seg.set(ValueLayout.JAVA_SHORT, BlockLayout.VERSION_OFFSET, (short) 2);
            assertEquals("version", assertThrows(SharedHeaderException.class, () -> SharedInt.attach(Mappings.second(raw.nativeHandle()))).field());
            seg.set(ValueLayout.JAVA_SHORT, BlockLayout.VERSION_OFFSET, (short) BlockLayout.VERSION);
            seg.set(ValueLayout.JAVA_SHORT, BlockLayout.TYPE_OFFSET, (short) 99);
            SharedHeaderException unknown = assertThrows(SharedHeaderException.class, () -> SharedInt.attach(Mappings.second(raw.nativeHandle())));
            assertEquals("shared block: unknown type 99", unknown.getMessage());
            seg.set(ValueLayout.JAVA_SHORT, BlockLayout.TYPE_OFFSET, (short) SharedType.INT.code());
            seg.set(ValueLayout.JAVA_INT, BlockLayout.ELEMENT_SIZE_OFFSET, 8);
            assertEquals("elementSize", assertThrows(SharedHeaderException.class, () -> SharedInt.attach(Mappings.second(raw.nativeHandle()))).field());
        }
        try (SharedMemory tiny = SharedMemory.create("tiny", 100)) {
            SharedHeaderException size = assertThrows(SharedHeaderException.class, () -> SharedInt.attach(Mappings.second(tiny.nativeHandle())));
            assertEquals("size", size.field());
            assertEquals(100, size.value());
        }
    }

    @Test
    void shouldPublishTheHeaderMagicLastAndRefuseUseAfterClose() throws Exception {
        SharedLong l = SharedLong.create("closing", 3);
        assertEquals(BlockLayout.MAGIC, (int) SharedRegion.INT.getAcquire(l.segment, BlockLayout.MAGIC_OFFSET));
        assertTrue(l.nativeHandle() >= 0);
        l.close();
        l.close();
        assertEquals(-1, l.nativeHandle());
        assertThrows(IllegalStateException.class, l::get);
        assertThrows(IllegalStateException.class, () -> l.getLock().tryLock());
    }
}
