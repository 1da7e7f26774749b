package dev.keel.model.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.keel.KeelException;
import dev.keel.io.AtomicFolder;
import dev.keel.io.SafeFiles;
import dev.keel.model.CausalLM;
import dev.keel.model.Head;
import dev.keel.runtime.Natives;

/**
 * Loads and saves model directories in the Hugging Face layout: {@code config.json} plus
 * {@code model.safetensors}, or shards listed in {@code model.safetensors.index.json}. Tensor names may carry
 * the {@code transformer.}/{@code model.} prefix that {@code ...ForCausalLM} classes write or lack it, as
 * bare {@code GPT2Model}/{@code LlamaModel} checkpoints do (the original GPT-2 files among them). Only
 * safetensors are read: pickle files ({@code pytorch_model.bin}) can run code when loaded.
 */
public final class ModelFiles {
    public static final String CONFIG = "config.json";
    public static final String WEIGHTS = "model.safetensors";
    public static final String INDEX = "model.safetensors.index.json";
    /** transformers' default {@code max_shard_size}. */
    public static final long DEFAULT_MAX_SHARD_BYTES = 5_000_000_000L;

    private static final Logger LOG = LoggerFactory.getLogger(ModelFiles.class);
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    /** Buffers some savers write that are not parameters: GPT-2's causal masks, old Llama rotary caches. */
    private static final String[] BUFFER_SUFFIXES = {".attn.bias", ".attn.masked_bias", "rotary_emb.inv_freq"};

    private ModelFiles() {}

    /** Where each tensor of a checkpoint lives. */

    /**
     * Loads {@code dir} with weights converted to {@code dtype} on {@code device}.
     *
     * @param dtype compute dtype; null means float32
     * @param device null means CPU
     */
    /** Loads {@code dir} as a causal language model; a reward model (scalar head) is an error. */
    public static CausalLM load(Path dir, DType dtype, Device device) {
        return load(dir, dtype, device, Head.LM);
    }

    /**
     * Loads {@code dir} with the given head: null for the head the checkpoint has. Asking for a scalar head on a
     * causal-LM checkpoint gives its decoder with a new head drawn from N(0, initializer_range), 0.02 when
     * config.json has none, as transformers' {@code ...ForSequenceClassification} initialises {@code score}
     * (which TRL's RewardTrainer loads; docs/ALGORITHMS.md §2), so a new reward model starts near r = 0 and a
     * Bradley-Terry loss near ln 2. The new head is drawn from libtorch's generator: seed it first for a
     * repeatable run.
     */
    public static CausalLM load(Path dir, DType dtype, Device device, Head head) {
        Natives.init();
        ModelConfig config = readConfig(dir);
        Head stored = Head.of(config.raw());
        Head want = head == null ? stored : head;
        if (want == Head.LM && stored == Head.SCORE) {
            throw new KeelException(dir + ": is a " + config.raw().path("architectures")
                    + " checkpoint with a scalar head; it has no language-model head to generate or score text with");
        }
        DType dt = dtype == null ? DType.F32 : dtype;
        Map<String, long[]> expected = CausalLM.expectedShapes(config, stored);
        if (want != stored) {
            expected.remove("lm_head.weight");
        }
        Map<String, Tensor> weights = readWeights(dir, config, expected, dt, device);
        if (want == Head.SCORE && stored == Head.LM) {
            double std = config.raw().path("initializer_range").asDouble(0.02);
            Tensor score = org.bytedeco.pytorch.global.torch.randn(1, config.hiddenSize()).mul(
                    dev.keel.tensor.Tensors.s(std)).to(dt.scalarType());
            weights.put(CausalLM.SCORE, device == null || device.is_cpu() ? score : score.to(device, dt.scalarType()));
        }
        try {
            return CausalLM.create(config, weights);
        } catch (KeelException e) {
            throw new KeelException(dir + ": " + e.getMessage(), e);
        }
    }

    public static ModelConfig readConfig(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new KeelException(dir + (Files.exists(dir) ? ": is a file; a model is a directory (with "
                    + CONFIG + " and the weights)" : ": no such model directory"));
        }
        Path cfg = SafeFiles.inside(dir, CONFIG, "the model's configuration");
        if (!Files.exists(cfg)) {
            throw new KeelException(dir + ": not a model directory (no " + CONFIG + ")");
        }
        return ModelConfig.load(cfg);
    }

    /** The weights of {@code dir} under the names {@link CausalLM#expectedShapes} uses, checked and converted. */
    public static Map<String, Tensor> readWeights(Path dir, ModelConfig config, DType dtype, Device device) {
        return readWeights(dir, config, CausalLM.expectedShapes(config, Head.of(config.raw())), dtype, device);
    }

    /** The weights {@code expected} names, read from {@code dir}, checked and converted. */
    public static Map<String, Tensor> readWeights(Path dir, ModelConfig config, Map<String, long[]> expected,
                                                  DType dtype, Device device) {
        Map<String, CheckpointIndex.Source> sources = CheckpointIndex.of(dir);
        String prefix = config.family() == ModelConfig.Family.GPT2 ? "transformer." : "model.";
        Map<String, CheckpointIndex.Source> found = new LinkedHashMap<>();
        List<String> unexpected = new ArrayList<>();
        for (Map.Entry<String, CheckpointIndex.Source> e : sources.entrySet()) {
            String name = e.getKey();
            String canonical = expected.containsKey(name) ? name
                    : expected.containsKey(prefix + name) ? prefix + name : null;
            if (canonical == null) {
                if (isBuffer(name) || name.equals("lm_head.weight")) {
                    // tied, or a causal LM read as the decoder of a reward or value model
                    continue;
                }
                unexpected.add(name);
                continue;
            }
            CheckpointIndex.Source prev = found.put(canonical, e.getValue());
            if (prev != null) {
                throw new KeelException(e.getValue().header().file() + ": tensor '" + canonical
                        + "' is stored twice (with and without the '" + prefix + "' prefix)");
            }
        }
        List<String> missing = new ArrayList<>();
        for (String name : expected.keySet()) {
            if (!found.containsKey(name)) {
                missing.add(name);
            }
        }
        if (!missing.isEmpty()) {
            throw new KeelException(dir + ": " + missing.size() + " tensor(s) missing from the checkpoint for "
                    + config.modelType() + ", first: '" + missing.get(0) + "'"
                    + (missing.size() > 1 ? ", " + missing.subList(1, Math.min(5, missing.size())) : "")
                    + " (files: " + CheckpointIndex.files(sources) + ")");
        }
        if (!unexpected.isEmpty()) {
            LOG.warn("{}: ignoring {} tensor(s) the {} model does not use, e.g. {}", dir, unexpected.size(),
                    config.modelType(), unexpected.subList(0, Math.min(3, unexpected.size())));
        }
        Map<String, Tensor> weights = new LinkedHashMap<>();
        for (Map.Entry<String, long[]> e : expected.entrySet()) {
            CheckpointIndex.Source src = found.get(e.getKey());
            if (!Arrays.equals(src.entry().shape(), e.getValue())) {
                throw new KeelException(src.header().file() + ": tensor '" + src.entry().name() + "' has shape "
                        + Arrays.toString(src.entry().shape()) + " but " + CONFIG + " implies "
                        + Arrays.toString(e.getValue()));
            }
            if (!src.entry().dtype().isFloatingPoint()) {
                throw new KeelException(src.header().file() + ": tensor '" + src.entry().name()
                        + "' has non-float dtype " + src.entry().dtype());
            }
            Tensor t = Safetensors.read(src.header(), src.entry().name());
            if (!dev.keel.tensor.Tensors.allFinite(t)) {
                throw new KeelException(src.header().file() + ": tensor '" + src.entry().name() + "' holds NaN or "
                        + "infinite values; refused (a model with them generates and scores nothing meaningful)");
            }
            if (src.entry().dtype() != dtype) {
                t = t.to(dtype.scalarType());
            }
            if (device != null && !device.is_cpu()) {
                t = t.to(device, dtype.scalarType());
            }
            weights.put(e.getKey(), t);
        }
        return weights;
    }

    private static boolean isBuffer(String name) {
        for (String s : BUFFER_SUFFIXES) {
            if (name.endsWith(s)) {
                return true;
            }
        }
        return false;
    }

    /** Saves {@code model} into {@code dir} in its own dtype, in one file (transformers' 5 GB shard limit). */
    public static void save(CausalLM model, Path dir) {
        save(model, dir, model.dtype(), DEFAULT_MAX_SHARD_BYTES);
    }

    /**
     * Saves {@code model} into {@code dir}: {@code config.json} and the weights in {@code dtype}, sharded past
     * {@code maxShardBytes} with an index as transformers writes. See {@link #save(CausalLM, Path, DType, long, Path)}.
     */
    public static void save(CausalLM model, Path dir, DType dtype, long maxShardBytes) {
        save(model, dir, dtype, maxShardBytes, null);
    }

    /**
     * Saves {@code model} into {@code dir} with the tokenizer and generation files of {@code sideFilesFrom} (none
     * when null or {@code dir} itself), all at once ({@link AtomicFolder}): the new files are written into a
     * sibling folder and swapped in, so the model {@code dir} held before (an earlier run's, or the one being
     * trained when {@code --out} is {@code --model}) survives a full disk or a kill at any moment. Weight files of
     * the other layout (single file or shards) left by an earlier save go; every other file of {@code dir} stays.
     */
    public static void save(CausalLM model, Path dir, DType dtype, long maxShardBytes, Path sideFilesFrom) {
        boolean sides = sideFilesFrom != null && !sameFolder(sideFilesFrom, dir);
        AtomicFolder.replace(dir, n -> isModelFile(n) || sides && SIDE_FILES.contains(n), staging -> {
            writeModel(model, staging, dtype, maxShardBytes);
            if (sides) {
                copySideFiles(sideFilesFrom, staging);
            }
        });
    }

    private static boolean sameFolder(Path a, Path b) {
        try {
            return Files.exists(a) && Files.exists(b) ? Files.isSameFile(a, b)
                    : a.toAbsolutePath().normalize().equals(b.toAbsolutePath().normalize());
        } catch (IOException e) {
            return false;
        }
    }

    /** The files a save writes or replaces: config.json and the weights of either layout. */
    private static boolean isModelFile(String n) {
        return n.equals(CONFIG) || n.equals(WEIGHTS) || n.equals(INDEX) || n.matches("model-\\d{5}-of-\\d{5}\\.safetensors");
    }

    private static void writeModel(CausalLM model, Path dir, DType dtype, long maxShardBytes) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        model.weights().forEach((k, v) -> out.put(k, v.to(dtype.scalarType())));
        checkSpace(dir, out.values().stream().mapToLong(Tensor::nbytes).sum());
        writeJson(dir.resolve(CONFIG), configJson(model, dtype));
        Map<String, String> meta = Map.of("format", "pt");
        List<Map<String, Tensor>> shards = shard(out, dtype, maxShardBytes);
        if (shards.size() == 1) {
            Safetensors.write(dir.resolve(WEIGHTS), shards.get(0), meta);
            return;
        }
        ObjectNode index = JSON.createObjectNode();
        long total = 0;
        TreeMap<String, String> weightMap = new TreeMap<>();
        for (int i = 0; i < shards.size(); i++) {
            String name = String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
            Safetensors.write(dir.resolve(name), shards.get(i), meta);
            for (Map.Entry<String, Tensor> e : shards.get(i).entrySet()) {
                weightMap.put(e.getKey(), name);
                total += e.getValue().nbytes();
            }
        }
        index.putObject("metadata").put("total_size", total);
        ObjectNode wm = index.putObject("weight_map");
        weightMap.forEach(wm::put);
        writeJson(dir.resolve(INDEX), index);
    }

    /** Refuses to start writing {@code bytes} (plus headers) where the file system has less room. */
    public static void checkSpace(Path dir, long bytes) {
        long free;
        try {
            free = Files.getFileStore(dir).getUsableSpace();
        } catch (IOException e) {
            return; // where the file system cannot tell, the write itself reports a full disk
        }
        long need = bytes + (1L << 20);
        if (free < need) {
            throw new KeelException(dir + ": not enough disk space: the save needs about " + mb(need) + " MB, "
                    + mb(free) + " MB are free");
        }
    }

    private static long mb(long bytes) {
        return (bytes + (1 << 20) - 1) >> 20;
    }

    /** config.json for {@code model}: its own fields, the saved dtype, and the architecture of its head. */
    private static ObjectNode configJson(CausalLM model, DType dtype) {
        ObjectNode c = model.config().toJson(dtype);
        c.putArray("architectures").add(model.head().architecture(model.config().modelType()));
        if (model.head() == Head.SCORE) {
            c.putObject("id2label").put("0", "LABEL_0");
            c.putObject("label2id").put("LABEL_0", 0);
            c.put("num_labels", 1);
        } else {
            c.remove("id2label");
            c.remove("label2id");
            c.remove("num_labels");
        }
        return c;
    }

    private static List<Map<String, Tensor>> shard(Map<String, Tensor> tensors, DType dtype, long max) {
        List<Map<String, Tensor>> shards = new ArrayList<>();
        Map<String, Tensor> cur = new LinkedHashMap<>();
        long size = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            long b = e.getValue().numel() * dtype.bytes();
            if (!cur.isEmpty() && size + b > max) {
                shards.add(cur);
                cur = new LinkedHashMap<>();
                size = 0;
            }
            cur.put(e.getKey(), e.getValue());
            size += b;
        }
        shards.add(cur);
        return shards;
    }

    /** Writes JSON atomically (temporary file, then rename). */
    public static void writeJson(Path file, JsonNode node) {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try {
            Files.write(tmp, JSON.writeValueAsBytes(node));
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new KeelException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    /** Tokenizer and generation files a model directory may carry, copied as they are. */
    public static final List<String> SIDE_FILES = List.of("tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json", "generation_config.json", "vocab.json", "merges.txt");

    /** Copies the tokenizer and generation files of {@code from} into {@code to} (those that exist). */
    public static void copySideFiles(Path from, Path to) {
        for (String n : SIDE_FILES) {
            Path src = from.resolve(n);
            if (Files.isRegularFile(src)) {
                try {
                    Files.copy(src, to.resolve(n), StandardCopyOption.REPLACE_EXISTING);
                } catch (IOException e) {
                    throw new KeelException("cannot copy " + src + " to " + to + ": " + e.getMessage(), e);
                }
            }
        }
    }
}
