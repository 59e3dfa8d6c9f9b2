package dev.panpipe.cli.image;

import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.pixel.PixelFrame;

import javax.imageio.IIOException;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.ImageOutputStream;
import javax.imageio.stream.MemoryCacheImageOutputStream;
import org.w3c.dom.Node;
import java.awt.Transparency;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.DataBufferByte;
import java.awt.image.IndexColorModel;
import java.awt.image.PixelInterleavedSampleModel;
import java.awt.image.Raster;
import java.awt.image.WritableRaster;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Iterator;

/**
 * Image files to and from {@link PixelFrame}s for the command line, through {@code javax.imageio}.
 *
 * <p>Reading gives a packed RGB8 frame whatever the file holds, the way OpenCV's
 * {@code cv2.imread(path, cv2.IMREAD_COLOR)} does (then BGR to RGB), and the PNGs read equal to it byte
 * for byte (tested):
 * <ul>
 *   <li>gray is repeated into R, G and B; gray of 1, 2 or 4 bits is scaled to 0..255 (x 255, 85 or 17);</li>
 *   <li>a palette is looked up (its alpha, if any, dropped);</li>
 *   <li>16 bits a channel keep their high byte ({@code v >> 8}, libpng's strip_16, as OpenCV: no rounding);</li>
 *   <li>alpha is dropped, not composited: a fully transparent pixel keeps whatever colour it stores;</li>
 *   <li>no colour management: ICC profiles, gAMA and EXIF orientation are ignored (OpenCV applies the
 *       EXIF orientation of a JPEG; panpipe does not);</li>
 *   <li>JPEG is decoded by the JDK's decoder, whose IDCT and chroma upsampling round differently from
 *       libjpeg-turbo's in OpenCV: a few levels apart on some pixels (see the tests for the bound).</li>
 * </ul>
 * A file that is no image ImageIO knows, a CMYK JPEG or damaged data is an {@link ImageDecodeException}
 * naming the file; a missing or unreadable file is the plain {@link IOException} of the file system.
 *
 * <p>Writing: GRAY8 as an 8-bit gray PNG, RGB8 as an 8-bit RGB PNG, RGBA8 as RGBA. BGR8 is written
 * <em>as if it were RGB8</em>, bytes in order: a frame that {@code bgr} swapped shows swapped colours in any
 * viewer, which is the point of the {@code convert} job's {@code bgr} output.
 */
public final class ImageFiles {
    /** The most pixels {@link #decode(InputStream, String)} accepts: 256 megapixels, 768 MB as RGB8. */
    public static final long DEFAULT_MAX_PIXELS = 256_000_000L;

    private ImageFiles() {
    }

    /** Millions of pixels, rounded up: a limit is never shown as exceeded by an image it lets through. */
    private static long megapixels(long pixels) {
        return (pixels + 999_999) / 1_000_000;
    }

    /** "not enough memory WHAT (the JVM may use N MB; give it more with ...)": an OutOfMemoryError as a person reads it. */
    public static String notEnoughMemory(String what) {
        return "not enough memory " + what + " (the JVM may use " + (Runtime.getRuntime().maxMemory() >> 20)
                + " MB; give it more with PANPIPE_JAVA_OPTS=-Xmx...)";
    }

    /** Reads a PNG or JPEG file into a new packed RGB8 frame from {@code allocator}. */
    public static PixelFrame read(Path file, SegmentAllocator allocator) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return read(in, file.toString(), allocator);
        }
    }

    /** Reads an image from {@code in} (not closed); {@code source} names it in errors. */
    public static PixelFrame read(InputStream in, String source, SegmentAllocator allocator) throws IOException {
        return toRgb8(decode(in, source), source, allocator);
    }

    /** Decodes a PNG or JPEG file (not yet converted to RGB8: see {@link #toRgb8}). */
    public static BufferedImage decode(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return decode(in, file.toString());
        }
    }

    /**
     * The width times height of the image in {@code in}, read from its header without decoding the pixels
     * (to size buffers before the first image is decoded), or -1 if no decoder recognises it.
     */
    public static long pixelCount(InputStream in) throws IOException {
        try (ImageInputStream iis = ImageIO.createImageInputStream(new BufferedInputStream(in, 1 << 16))) {
            if (iis == null) return -1;
            Iterator<ImageReader> readers = ImageIO.getImageReaders(iis);
            if (!readers.hasNext()) return -1;
            ImageReader reader = readers.next();
            try {
                reader.setInput(iis, true, true);
                return (long) reader.getWidth(0) * reader.getHeight(0);
            } catch (IIOException | RuntimeException e) {
                return -1;   // reported by name when the image itself is decoded
            } finally {
                reader.dispose();
            }
        }
    }

    /** Decodes an image from {@code in} (not closed) of at most {@link #DEFAULT_MAX_PIXELS}; {@code source} names it in errors. */
    public static BufferedImage decode(InputStream in, String source) throws IOException {
        return decode(in, source, DEFAULT_MAX_PIXELS);
    }

    /**
     * Decodes an image from {@code in} (not closed); {@code source} names it in errors. An image whose header
     * claims more than {@code maxPixels} pixels is refused before its pixels are read: a few kilobytes of PNG
     * can claim a raster of gigabytes (a decompression bomb), which ImageIO would allocate first.
     */
    public static BufferedImage decode(InputStream in, String source, long maxPixels) throws IOException {
        try (ImageInputStream iis = ImageIO.createImageInputStream(new BufferedInputStream(in, 1 << 16))) {
            if (iis == null) throw new ImageDecodeException(source, "no image input stream", null);
            Iterator<ImageReader> readers = ImageIO.getImageReaders(iis);
            if (!readers.hasNext()) throw new ImageDecodeException(source, "not a PNG or JPEG file (no decoder recognises it)", null);
            ImageReader reader = readers.next();
            try {
                reader.setInput(iis, true, true);
                long pixels = (long) reader.getWidth(0) * reader.getHeight(0);
                if (pixels > maxPixels) {
                    throw new ImageDecodeException(source, reader.getWidth(0) + "x" + reader.getHeight(0) + " is "
                            + megapixels(pixels) + " megapixels, over the limit of " + megapixels(maxPixels) + " (--max-megapixels)", null);
                }
                return blackBeyondPalette(reader.read(0), reader);
            } catch (IIOException | RuntimeException e) {
                // IIOException: damaged or unsupported data (a CMYK JPEG, a bad PNG chunk); decoders throw
                // runtime exceptions too on some malformed files. The PNG reader wraps whatever it caught in
                // a message that ends in ': ', an OutOfMemoryError included: the cause says what happened.
                String why = e.getMessage();
                if (e.getCause() instanceof OutOfMemoryError) {
                    why = notEnoughMemory("for its pixels");
                } else if (e.getCause() != null && e.getCause().getMessage() != null) {
                    why += " (" + e.getCause().getMessage() + ")";
                }
                throw new ImageDecodeException(source, reader.getFormatName() + ": " + why, e);
            } finally {
                reader.dispose();
            }
        }
    }

    /**
     * A paletted PNG as libpng (and so OpenCV) reads it: an index past the PLTE chunk's entries is black. The
     * JDK's reader pads a short palette with its last colour instead, so such a pixel came out that colour.
     */
    private static BufferedImage blackBeyondPalette(BufferedImage image, ImageReader reader) throws IOException {
        if (!(image.getColorModel() instanceof IndexColorModel icm) || !"png".equalsIgnoreCase(reader.getFormatName())) return image;
        Node plte = null;
        for (Node n = reader.getImageMetadata(0).getAsTree("javax_imageio_png_1.0").getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n.getNodeName().equals("PLTE")) plte = n;
        }
        int size = icm.getMapSize();
        if (plte == null || plte.getChildNodes().getLength() >= size) return image;    // gray of 1, 2 or 4 bits has no PLTE
        byte[][] rgb = palette(icm);
        int entries = plte.getChildNodes().getLength();
        for (byte[] channel : rgb) Arrays.fill(channel, entries, size, (byte) 0);
        return new BufferedImage(new IndexColorModel(icm.getPixelSize(), size, rgb[0], rgb[1], rgb[2]), image.getRaster(), false, null);
    }

    /** The palette's reds, greens and blues. */
    private static byte[][] palette(IndexColorModel icm) {
        byte[][] rgb = new byte[3][icm.getMapSize()];
        icm.getReds(rgb[0]);
        icm.getGreens(rgb[1]);
        icm.getBlues(rgb[2]);
        return rgb;
    }

    /**
     * Converts a decoded image to a packed RGB8 frame in memory from {@code allocator} — which may hand out a
     * frame ring slot, so the pixels land where a worker will read them. Paletted, gray and 16-bit images are
     * expanded as the class comment says; an unsupported colour space is an {@link ImageDecodeException}.
     */
    public static PixelFrame toRgb8(BufferedImage image, String source, SegmentAllocator allocator) throws ImageDecodeException {
        try {
            return convertToRgb8(image, source, allocator);
        } catch (IllegalArgumentException e) {
            throw new ImageDecodeException(source, e.getMessage(), e);
        }
    }

    private static PixelFrame convertToRgb8(BufferedImage image, String source, SegmentAllocator allocator) throws ImageDecodeException {
        int width = image.getWidth();
        int height = image.getHeight();
        Raster raster = image.getRaster();
        ColorModel cm = image.getColorModel();
        MemorySegment pixels = allocator.allocate((long) width * height * 3, 64);
        byte[] row = new byte[width * 3];
        int[] samples = new int[width];
        if (cm instanceof IndexColorModel icm) {
            int size = icm.getMapSize();
            byte[][] rgb = palette(icm);
            byte[] r = rgb[0];
            byte[] g = rgb[1];
            byte[] b = rgb[2];
            for (int y = 0; y < height; y++) {
                raster.getSamples(0, y, width, 1, 0, samples);
                for (int x = 0; x < width; x++) {
                    int i = samples[x];
                    if (i >= size) throw new ImageDecodeException(source, "palette index " + i + " beyond the palette of " + size, null);
                    row[3 * x] = r[i];
                    row[3 * x + 1] = g[i];
                    row[3 * x + 2] = b[i];
                }
                MemorySegment.copy(row, 0, pixels, ValueLayout.JAVA_BYTE, (long) y * row.length, row.length);
            }
        } else {
            int colours = cm.getNumColorComponents();
            int type = cm.getColorSpace().getType();
            boolean gray = colours == 1 && type == ColorSpace.TYPE_GRAY;
            if (!gray && !(colours == 3 && type == ColorSpace.TYPE_RGB)) {
                throw new ImageDecodeException(source, "unsupported colour space (" + colours + " components, type " + type + ")", null);
            }
            int[] g = gray ? samples : new int[width];
            int[] b = gray ? samples : new int[width];
            int bits = cm.getComponentSize(0);
            for (int c = 1; c < colours; c++) {
                if (cm.getComponentSize(c) != bits) throw new ImageDecodeException(source, "channels of different bit depths", null);
            }
            for (int y = 0; y < height; y++) {
                raster.getSamples(0, y, width, 1, 0, samples);
                if (!gray) {
                    raster.getSamples(0, y, width, 1, 1, g);
                    raster.getSamples(0, y, width, 1, 2, b);
                }
                for (int x = 0; x < width; x++) {
                    row[3 * x] = (byte) to8(samples[x], bits);
                    row[3 * x + 1] = (byte) to8(g[x], bits);
                    row[3 * x + 2] = (byte) to8(b[x], bits);
                }
                MemorySegment.copy(row, 0, pixels, ValueLayout.JAVA_BYTE, (long) y * row.length, row.length);
            }
        }
        return PixelFrame.packed(width, height, PixelFormat.RGB8, pixels);
    }

    /** A sample of {@code bits} bits as 0..255: the high byte of 16 (as libpng's strip_16), scaled up from fewer than 8. */
    static int to8(int v, int bits) {
        if (bits == 8) return v;
        if (bits > 8) return v >>> (bits - 8);
        return v * 255 / ((1 << bits) - 1);
    }

    /**
     * Writes {@code frame} as a PNG file (replacing it); BGR8 bytes are written as RGB: see the class comment.
     * If writing fails once the file is open (a full disk, or too little heap for its copy), the partial file is removed, unless it is not a
     * regular file (a link to a device, say). A FIFO in the file's place is refused, not opened.
     */
    public static void writePng(PixelFrame frame, Path file) throws IOException {
        if (isFifo(file)) throw new FileSystemException(file.toString(), null, "a FIFO (opening it would wait for a reader)");
        OutputStream opened = Files.newOutputStream(file);
        try (OutputStream out = new BufferedOutputStream(opened, 1 << 16)) {
            writePng(frame, out);
        } catch (IOException | RuntimeException | OutOfMemoryError e) {     // the last: too large to encode here
            try {
                if (Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) Files.deleteIfExists(file);
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    /** True if {@code file} is a FIFO, through links: open(2) for writing would wait until a reader opens it. */
    private static boolean isFifo(Path file) throws IOException {
        if (Files.isRegularFile(file) || !Files.exists(file)) return false;
        return ((Integer) Files.getAttribute(file, "unix:mode") & linux_h.S_IFMT()) == linux_h.S_IFIFO();
    }

    /**
     * Writes {@code frame} as PNG to {@code out} (not closed). Through a cache in memory, not ImageIO's
     * default temporary file: that one leaves a file in the temp folder when the JVM is killed, and when
     * writing {@code out} fails, its exit hook dies of a NullPointerException at JVM exit (JDK 25), a stack
     * trace for the user.
     */
    public static void writePng(PixelFrame frame, OutputStream out) throws IOException {
        try (ImageOutputStream cache = new MemoryCacheImageOutputStream(out)) {
            if (!ImageIO.write(toImage(frame), "png", cache)) throw new IOException("no PNG writer in this JDK");
        }
    }

    /** A BufferedImage over a packed copy of the frame's pixels, bands in the frame's byte order. */
    static BufferedImage toImage(PixelFrame frame) {
        int w = frame.width();
        int h = frame.height();
        int bpp = frame.format().bytesPerPixel();
        int rowBytes = w * bpp;
        byte[] bytes = new byte[Math.multiplyExact(rowBytes, h)];
        for (int y = 0; y < h; y++) {
            MemorySegment.copy(frame.pixels(), ValueLayout.JAVA_BYTE, (long) y * frame.stride(), bytes, y * rowBytes, rowBytes);
        }
        ColorSpace space = ColorSpace.getInstance(frame.format() == PixelFormat.GRAY8 ? ColorSpace.CS_GRAY : ColorSpace.CS_sRGB);
        boolean alpha = frame.format() == PixelFormat.RGBA8;
        ColorModel cm = new ComponentColorModel(space, alpha, false, alpha ? Transparency.TRANSLUCENT : Transparency.OPAQUE, DataBuffer.TYPE_BYTE);
        int[] offsets = new int[bpp];
        for (int i = 0; i < bpp; i++) offsets[i] = i;
        WritableRaster raster = Raster.createWritableRaster(
                new PixelInterleavedSampleModel(DataBuffer.TYPE_BYTE, w, h, bpp, rowBytes, offsets), new DataBufferByte(bytes, bytes.length), null);
        return new BufferedImage(cm, raster, false, null);
    }
}
