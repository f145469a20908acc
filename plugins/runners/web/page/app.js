// The page `zoo web` serves and zoo's web-generation check drives: MediaPipe's LLM Inference API for
// the Web, loading the one artifact this server offers. window.zoo is the API the check calls; the
// form below uses the same two functions.
import { FilesetResolver, LlmInference } from './genai_bundle.mjs';

const $ = (id) => document.getElementById(id);
const config = await (await fetch('./config.json')).json();
// navigator.gpu alone is not enough: a browser without a usable GPU (or its fallback) has no adapter.
const webgpu = navigator.gpu ? await navigator.gpu.requestAdapter().then((adapter) => adapter !== null, () => false) : false;
let llm = null;
let busy = false;

/** The runtime rejects with Errors, strings or arrays of them: one readable sentence, whichever it is. */
function reason(error) {
  if (Array.isArray(error)) return error.map(reason).join('; ');
  if (error && typeof error.message === 'string') return error.message; // Error, GPUError (message is a getter)
  return typeof error === 'string' ? error : JSON.stringify(error);
}

/** Load the model with these settings (max tokens counts the prompt and the reply); returns seconds taken. */
async function load(settings) {
  try {
    return await loadModel(settings);
  } catch (error) {
    throw new Error(reason(error));
  }
}

async function loadModel({ maxTokens, topK, temperature, seed, loraRanks = [] }) {
  if (!webgpu) throw new Error('This browser has no WebGPU, which MediaPipe\'s Web runtime needs.');
  if (llm) { llm.close(); llm = null; }
  const started = performance.now();
  const genai = await FilesetResolver.forGenAiTasks('./wasm');
  llm = await LlmInference.createFromOptions(genai, {
    baseOptions: { modelAssetPath: config.model }, maxTokens, topK, temperature, randomSeed: seed,
    ...(loraRanks.length ? { loraRanks } : {}),
  });
  return (performance.now() - started) / 1000;
}

/** Generate from `prompt`, stopping after `pieces` streamed pieces when given; onPiece sees each one.
 * The runtime streams a few tokens per piece on the GPU, and its tokenizer cannot be asked while it
 * generates, so a limit counts pieces; `tokens` is the runtime's own count of the generated text. */
async function generate(prompt, options = {}) {
  try {
    return await generateText(prompt, options);
  } catch (error) {
    throw new Error(reason(error));
  }
}

async function generateText(prompt, { pieces: wanted = 0, onPiece = () => {} } = {}) {
  if (!llm) throw new Error('Load the model first.');
  const pieces = [];
  const started = performance.now();
  let first = null;
  let text = await llm.generateResponse(prompt, (partial, done) => {
    if (partial) {
      first ??= performance.now();
      pieces.push(partial);
      onPiece(partial);
      if (wanted && pieces.length >= wanted && !done) llm.cancelProcessing();
    }
  });
  const seconds = (performance.now() - started) / 1000;
  text = text || pieces.join('');
  const tokens = text ? (llm.sizeInTokens(text) ?? pieces.length) : 0;
  return { text, pieces, tokens, seconds, first_piece_seconds: first === null ? null : (first - started) / 1000,
    tokens_per_second: tokens && seconds > 0 ? tokens / seconds : null, // prefill included, as a person waits for it
    prompt_tokens: llm.sizeInTokens(prompt) ?? null };
}

window.zoo = { config, webgpu, load, generate };

// ------------------------------------------------------------------ the form

const defaults = config.defaults || {};
$('title').textContent = config.title || 'zoo web';
$('max-tokens').value = defaults.max_tokens ?? 512;
$('top-k').value = defaults.top_k ?? 40;
$('temperature').value = defaults.temperature ?? 0.8;
$('seed').value = defaults.seed ?? 0;
$('prompt').value = config.prompt || '';
if (!webgpu) { $('no-webgpu').hidden = false; $('load').disabled = true; }

const status = (text) => { $('status').textContent = text; };
const settings = () => ({ maxTokens: Number($('max-tokens').value), topK: Number($('top-k').value),
  temperature: Number($('temperature').value), seed: Number($('seed').value) });

$('load').addEventListener('click', async () => {
  if (busy) return;
  busy = true;
  $('load').disabled = $('generate').disabled = $('prompt').disabled = true;
  status(`Loading ${config.name} …`);
  try {
    const seconds = await load(settings());
    status(`Loaded ${config.name} in ${seconds.toFixed(1)} s.`);
    $('generate').disabled = $('prompt').disabled = false;
  } catch (error) {
    status(`Could not load ${config.name}: ${error.message || error}`);
  } finally {
    busy = false;
    $('load').disabled = !webgpu;
  }
});

$('ask').addEventListener('submit', async (event) => {
  event.preventDefault();
  if (busy || !llm) return;
  busy = true;
  $('generate').disabled = $('load').disabled = true;
  $('stop').disabled = false;
  $('output').textContent = '';
  $('stats').textContent = '';
  status('Generating …');
  try {
    const result = await generate($('prompt').value, { onPiece: (piece) => { $('output').textContent += piece; } });
    $('output').textContent = result.text;
    const rate = result.tokens_per_second === null ? '' : `, ${result.tokens_per_second.toFixed(2)} tokens/s`;
    $('stats').textContent = `${result.tokens} tokens in ${result.seconds.toFixed(1)} s${rate}.`;
    status('Done.');
  } catch (error) {
    status(`Generation failed: ${error.message || error}`);
  } finally {
    busy = false;
    $('generate').disabled = false;
    $('load').disabled = false;
    $('stop').disabled = true;
  }
});

$('stop').addEventListener('click', () => llm?.cancelProcessing());
document.body.dataset.ready = 'true';
