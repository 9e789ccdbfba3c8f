// Each agent issue in plain words: what happened, what the server does about it, what you can do.

const EXPLANATIONS = {
  CacheCannotAcquireLock: ["Another process holds the lock on the model cache.", "The server waits and tries again.", "Check that no other download of the same model is stuck."],
  CacheDirectoryIsNotWritable: ["The model cache folder cannot be written.", "The model is not downloaded.", "Give the server write access to its cache folder, or set PADDLER_CACHE_DIR."],
  CacheStorageIsFull: ["The disk holding the model cache is full.", "The download stopped.", "Free some space, then apply the desired state again."],
  ChatTemplateDoesNotCompile: ["The chat template has a syntax error.", "Chats cannot be rendered with it.", "Fix the template on the Model page."],
  DownloadInterrupted: ["The model download was interrupted.", "The server resumes it when it tries again.", "Check the network if it keeps happening."],
  DownloadServerDeniedAccess: ["The download server refused access (401/403).", "The model is not downloaded.", "Check the URL, or that the file is public."],
  DownloadServerErrored: ["The download server failed (5xx).", "The server tries again later.", "Wait, or choose another source."],
  DownloadServerIsUnreachable: ["The download server cannot be reached.", "The server tries again later.", "Check the network and the URL's host."],
  DownloadServerRejectedRequest: ["The download server rejected the request.", "The model is not downloaded.", "Check the URL."],
  DownloadUrlIsMalformed: ["The model URL is not a valid URL.", "Nothing is downloaded.", "Correct the URL on the Model page."],
  HuggingFaceCannotAcquireLock: ["Another process holds the Hugging Face cache lock.", "The server tries again in a few seconds.", "Check for another stuck download."],
  HuggingFaceModelDoesNotExist: ["Hugging Face has no such repository, revision or file.", "The previous model keeps serving.", "Check the repository, revision and file name."],
  HuggingFacePermissions: ["Hugging Face refused access to the model.", "The previous model keeps serving.", "Accept the model's terms or set a token (HF_TOKEN) for the server."],
  ModelCacheIsCorrupted: ["The cached model file is damaged.", "It is not loaded.", "Delete it from the cache and apply the state again."],
  ModelCannotBeLoaded: ["The model file could not be loaded (not a valid GGUF, or too big).", "The previous model is loaded back, so the server keeps serving.", "Choose another file, or lower the context size or GPU layers."],
  ModelDoesNotExistAtUrl: ["There is no file at the model URL (404).", "The previous model keeps serving.", "Correct the URL."],
  ModelFileDoesNotExist: ["The local model file does not exist.", "The previous model keeps serving.", "Check the path; it must lie in a folder the server allows."],
  MultimodalProjectionCannotBeLoaded: ["The multimodal projection could not be loaded.", "Images are not accepted.", "Choose a projection file that matches the model."],
  SlotCannotStart: ["The engine could not run (or faulted and restarted).", "Requests it was running ended with an error; it restarts by itself when it can.", "Read the error below; lower the slots or context size if it is about memory."],
  ToolCallValidationFailed: ["A tool call did not match its schema.", "The call was reported to the client as invalid.", "Check the tool's schema and the prompt."],
  UnableToFindChatTemplate: ["The model has no chat template.", "Chats cannot be rendered.", "Set a custom chat template on the Model page."],
};

export function explainIssue(issue) {
  const [name, details] = typeof issue === "string" ? [issue, null] : Object.entries(issue)[0];
  const [what, server, you] = EXPLANATIONS[name] ?? [`The server reported ${name}.`, "It keeps serving what it can.", "Look at the server's log for details."];
  return { name, what, server, you, details };
}
