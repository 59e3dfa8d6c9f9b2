package dev.panpipe.zerocopy.queue;

import java.lang.foreign.MemorySegment;

/** Reads one message in place, in the queue's shared memory: {@link SharedQueue#poll(MessageHandler)}. */
@FunctionalInterface
public interface MessageHandler {
    /**
     * @param message a read-only view of the message, valid only during this call: its slot goes back to
     *                the producers when the call returns (or throws)
     */
    void onMessage(MemorySegment message);
}
