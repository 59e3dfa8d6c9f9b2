package dev.panpipe.cli.image;

import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.pixel.PixelFrame;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(30)
class ImageFilesTest {
    @TempDir
    Path dir;

    static PixelFrame random(Arena arena, int w, int h, int pad, PixelFormat format, long seed) {
        int stride = w * format.bytesPerPixel() + pad;
        byte[] bytes = new byte[stride * h];
        new Random(seed).nextBytes(bytes);
        return new PixelFrame(w, h, stride, format, arena.allocateFrom(ValueLayout.JAVA_BYTE, bytes));
    }

    static int at(PixelFrame f, int x, int y, int c) {
        return f.pixels().get(ValueLayout.JAVA_BYTE, (long) y * f.stride() + (long) x * f.format().bytesPerPixel() + c) & 0xff;
    }

    @Test
    void shouldReadPaletteIndicesBeyondThePaletteAsBlackAsOpenCvDoes() throws IOException {
        // The JDK's PNG reader pads a short palette with its last colour; libpng (and so cv2.imread) gives
        // index >= the PLTE's length black. Seen with cv2 4.6: a 16-colour palette, index 138 -> (0, 0, 0).
        byte[] palette = {10, 20, 30, 40, 50, 60};                     // two colours
        byte[] row = {0, 0, 1, 2, (byte) 200};                          // filter 0, then indices 0, 1, 2, 200
        java.io.ByteArrayOutputStream idat = new java.io.ByteArrayOutputStream();
        try (var z = new java.util.zip.DeflaterOutputStream(idat)) {
            z.write(row);
        }
        java.io.ByteArrayOutputStream png = new java.io.ByteArrayOutputStream();
        png.write(new byte[]{(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
        chunk(png, "IHDR", java.nio.ByteBuffer.allocate(13).putInt(4).putInt(1).put((byte) 8).put((byte) 3).array());
        chunk(png, "PLTE", palette);
        chunk(png, "IDAT", idat.toByteArray());
        chunk(png, "IEND", new byte[0]);
        try (Arena arena = Arena.ofConfined()) {
            PixelFrame f = ImageFiles.read(new ByteArrayInputStream(png.toByteArray()), "short-palette.png", arena);
            byte[] got = f.pixels().asSlice(0, 12).toArray(ValueLayout.JAVA_BYTE);
            assertEquals(Arrays.toString(new byte[]{10, 20, 30, 40, 50, 60, 0, 0, 0, 0, 0, 0}), Arrays.toString(got));
        }
    }

    private static void chunk(java.io.ByteArrayOutputStream png, String type, byte[] data) throws IOException {
        byte[] typed = java.nio.ByteBuffer.allocate(4 + data.length).put(type.getBytes(java.nio.charset.StandardCharsets.US_ASCII)).put(data).array();
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        crc.update(typed);
        png.write(java.nio.ByteBuffer.allocate(4).putInt(data.length).array());
        png.write(typed);
        png.write(java.nio.ByteBuffer.allocate(4).putInt((int) crc.getValue()).array());
    }

    @Test
    void shouldRoundTripRgbThroughPng() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            PixelFrame f = random(arena, 37, 11, 5, PixelFormat.RGB8, 1);
            Path file = dir.resolve("rgb.png");
            ImageFiles.writePng(f, file);
            PixelFrame back = ImageFiles.read(file, arena);
            assertEquals(PixelFormat.RGB8, back.format());
            for (int y = 0; y < 11; y++) {
                for (int x = 0; x < 37; x++) {
                    for (int c = 0; c < 3; c++) assertEquals(at(f, x, y, c), at(back, x, y, c));
                }
            }
        }
    }

    @Test
    void shouldWriteBgrBytesAsIfRgbAndGrayAsGray() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            PixelFrame bgr = random(arena, 9, 4, 2, PixelFormat.BGR8, 2);
            ImageFiles.writePng(bgr, dir.resolve("bgr.png"));
            PixelFrame bgrBack = ImageFiles.read(dir.resolve("bgr.png"), arena);
            PixelFrame gray = random(arena, 9, 4, 3, PixelFormat.GRAY8, 3);
            ImageFiles.writePng(gray, dir.resolve("gray.png"));
            PixelFrame grayBack = ImageFiles.read(dir.resolve("gray.png"), arena);
            for (int y = 0; y < 4; y++) {
                for (int x = 0; x < 9; x++) {
                    for (int c = 0; c < 3; c++) {
                        assertEquals(at(bgr, x, y, c), at(bgrBack, x, y, c), "byte order kept: the first byte shows as red");
                        assertEquals(at(gray, x, y, 0), at(grayBack, x, y, c), "gray repeated in R, G and B");
                    }
                }
            }
            // A gray PNG really is one channel: colour type 0 in IHDR (byte 25 of the file).
            assertEquals(0, Files.readAllBytes(dir.resolve("gray.png"))[25]);
            assertEquals(2, Files.readAllBytes(dir.resolve("bgr.png"))[25]);
        }
    }

    @Test
    void shouldNameAFileThatIsNoImage() throws IOException {
        Path text = Files.writeString(dir.resolve("notes.png"), "not an image at all\n");
        Path empty = Files.write(dir.resolve("empty.jpg"), new byte[0]);
        Path truncated = dir.resolve("truncated.png");
        try (InputStream in = Samples.open("gradient-640x480.png")) {
            Files.write(truncated, Arrays.copyOf(in.readAllBytes(), 5000));
        }
        try (Arena arena = Arena.ofConfined()) {
            for (Path bad : new Path[]{text, empty, truncated}) {
                ImageDecodeException e = assertThrows(ImageDecodeException.class, () -> ImageFiles.read(bad, arena), bad.toString());
                assertEquals(bad.toString(), e.source());
                assertTrue(e.getMessage().startsWith(bad + ": cannot decode image: "), e.getMessage());
            }
            assertThrows(NoSuchFileException.class, () -> ImageFiles.read(dir.resolve("missing.png"), arena));
            ImageDecodeException e = assertThrows(ImageDecodeException.class,
                    () -> ImageFiles.read(new ByteArrayInputStream(new byte[]{(byte) 0x89, 'P', 'N', 'G'}), "stream.png", arena));
            assertEquals("stream.png", e.source());
        }
    }

    @Test
    void shouldReadSixteenBitsAsTheirHighByte() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            PixelFrame f = Samples.read("gray16-300x200.png", arena);
            // SampleGenerator.gray16: (x * 65535 / 299 + y * 97) & 0xffff
            for (int[] p : new int[][]{{0, 0}, {1, 0}, {150, 100}, {299, 199}, {298, 3}}) {
                int v = (p[0] * 65535 / 299 + p[1] * 97) & 0xffff;
                for (int c = 0; c < 3; c++) assertEquals(v >> 8, at(f, p[0], p[1], c), "pixel " + p[0] + "," + p[1]);
            }
        }
    }

    @Test
    void shouldDropAlphaWithoutCompositing() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            PixelFrame f = Samples.read("alpha-400x300.png", arena);
            // x = 0 is fully transparent; its stored colour is kept: R = 255 * y / 299, B = 255 - R
            assertEquals(255, at(f, 0, 299, 0));
            assertEquals(0, at(f, 0, 299, 2));
            assertEquals(200, at(f, 0, 0, 1));
        }
    }

    @Test
    void shouldScaleSamplesToEightBits() {
        assertEquals(255, ImageFiles.to8(1, 1));
        assertEquals(170, ImageFiles.to8(2, 2));
        assertEquals(17 * 7, ImageFiles.to8(7, 4));
        assertEquals(200, ImageFiles.to8(200, 8));
        assertEquals(0xAB, ImageFiles.to8(0xABFF, 16));
    }

    @Test
    void shouldWriteIntoSharedStyleMemoryThroughASlicingAllocator() throws IOException {
        // The convert job may decode straight into a slot of a larger block.
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment block = arena.allocate(1 << 20);
            PixelFrame f = ImageFiles.read(Samples.open("palette-320x240.png"), "palette",
                    java.lang.foreign.SegmentAllocator.slicingAllocator(block));
            long start = f.pixels().address() - block.address();
            assertTrue(start >= 0 && start + f.byteSize() <= block.byteSize(), "decoded into the block, at " + start);
        }
    }
}
