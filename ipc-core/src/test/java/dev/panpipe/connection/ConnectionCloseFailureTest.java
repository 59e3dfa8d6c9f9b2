package dev.panpipe.connection;

import dev.panpipe.io.BehindTheBack;
import dev.panpipe.io.LeakCheck;
import dev.panpipe.io.Pipe;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A thread is blocked receiving when the connection is closed, and waking it fails because its wake-up
 * eventfd was replaced behind the connection's back: close reports that, and still closes everything else.
 */
@ExtendWith(LeakCheck.class)
@Timeout(60)
class ConnectionCloseFailureTest {

    private static CompletableFuture<Throwable> receiveOn(Connection c) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                c.receive();
                return null;
            } catch (Throwable t) {
                return t;
            }
        }, r -> Thread.ofPlatform().name("blocked-receiver").start(r));
    }

    @Test
    void shouldCloseTheSendingEndWhenWakingTheReceiverFails() throws Exception {
        Pipe incoming = Pipe.open();
        Pipe outgoing = Pipe.open();
        try {
            Connection c = Connection.over(incoming.readEnd(), outgoing.writeEnd(), ConnectionOptions.defaults());
            Map<Integer, String> before = LeakCheck.openFds();
            CompletableFuture<Throwable> receiver = receiveOn(c);
            BehindTheBack.replaceWithReadOnlyDevNull(BehindTheBack.newEventFd(before));

            IllegalStateException e = assertThrows(IllegalStateException.class, c::close);
            assertTrue(e.getMessage().startsWith("waking the threads blocked on pipe"), e.getMessage());
            assertFalse(outgoing.writeEnd().isOpen(), "the end it sends on is closed all the same");
            // Not woken by close, the receiver is by its writer's close.
            incoming.writeEnd().close();
            assertInstanceOf(IOException.class, receiver.get(10, TimeUnit.SECONDS));
        } finally {
            incoming.close();
            outgoing.close();
        }
    }

    @Test
    void shouldCloseTheSecondConnectionOfAPairWhenClosingTheFirstFails() throws Exception {
        Connection.Pair pair = Connection.pair();
        try {
            Map<Integer, String> before = LeakCheck.openFds();
            CompletableFuture<Throwable> receiver = receiveOn(pair.first());
            BehindTheBack.replaceWithReadOnlyDevNull(BehindTheBack.newEventFd(before));

            IllegalStateException e = assertThrows(IllegalStateException.class, pair::close);
            assertTrue(e.getMessage().startsWith("waking the threads blocked on socketpair end 0"), e.getMessage());
            assertFalse(pair.second().isOpen(), "the second connection is closed all the same");
            // Its peer's socket closed, the receiver wakes.
            assertInstanceOf(IOException.class, receiver.get(10, TimeUnit.SECONDS));
        } finally {
            pair.second().close();   // if the pair's close left it open, the receiver would wait for ever
        }
    }
}
