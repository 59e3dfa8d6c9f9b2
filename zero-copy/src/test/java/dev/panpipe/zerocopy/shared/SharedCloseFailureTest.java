package dev.panpipe.zerocopy.shared;

import dev.panpipe.zerocopy.BlockedInNativeCall;
import dev.panpipe.zerocopy.Mappings;
import dev.panpipe.zerocopy.NoLeaks;
import dev.panpipe.zerocopy.SharedMemory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Closes of shared blocks (and so of locks and queues, which hold their memory the same way) whose unmap
 * fails for real: a thread of this process is still inside a native call on the memory, a {@code read(2)}
 * into it. The fd is closed all the same, the failure is thrown (or suppressed in the one that matters
 * more), and a later close unmaps: no fd or mapping is left.
 */
@ExtendWith(NoLeaks.class)
@Timeout(60)
class SharedCloseFailureTest {

    @Test
    void shouldUnmapAtALaterCloseABlockThatAReadIntoItKeptMapped() throws Exception {
        String file = "/memfd:panpipe:bytes-read-into-" + ProcessHandle.current().pid();
        SharedByteArray bytes = SharedByteArray.create(file.substring("/memfd:panpipe:".length()), 4096);
        try (BlockedInNativeCall reader = BlockedInNativeCall.readingInto(bytes.data())) {
            IllegalStateException busy = assertThrows(IllegalStateException.class, bytes::close);
            assertTrue(busy.getMessage().contains("acquired"), busy.getMessage());   // "Session is acquired by 1 clients"
            assertEquals(-1, bytes.nativeHandle(), "the fd is closed all the same");
            assertEquals(1, Mappings.of(file), "still mapped: the read is still writing into it");
        }
        assertEquals(1, bytes.get(0), "the read landed in the mapping");
        bytes.close();
        assertEquals(0, Mappings.of(file), "unmapped by the next close");
        bytes.close();   // idempotent
    }

    /**
     * Memory handed over to be attached as a lock that holds none: the header's fault is what the caller
     * learns, and the failure to unmap the memory it closes is suppressed in it, not thrown instead.
     */
    @Test
    void shouldReportAWrongHeaderWhenClosingTheMemoryItCameInFailsToo() throws Exception {
        String name = "no-lock-" + ProcessHandle.current().pid();
        SharedMemory memory = SharedMemory.create(name, 4096);   // all zeros: no magic
        try (BlockedInNativeCall reader = BlockedInNativeCall.readingInto(memory.segment())) {
            SharedHeaderException header = assertThrows(SharedHeaderException.class, () -> SharedLock.attach(memory));
            assertEquals("magic", header.field(), header.getMessage());
            assertEquals(1, header.getSuppressed().length, "the failed unmap, suppressed in the header's fault");
            IllegalStateException busy = assertInstanceOf(IllegalStateException.class, header.getSuppressed()[0]);
            assertTrue(busy.getMessage().contains("acquired"), busy.getMessage());
            assertEquals(-1, memory.nativeHandle(), "the fd is closed all the same");
        }
        memory.close();   // the caller's handle on it is the way left to unmap it
        assertEquals(0, Mappings.of("/memfd:panpipe:" + name));
    }
}
