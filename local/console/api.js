// The API client: one cross-origin fetch per call, with the contract's error shape turned into an ApiError.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status; // 0: the browser refused or could not reach the API (CORS, network)
    this.code = code;
  }
}

export function createApi(baseUrl, onCall) {
  async function call(method, path, { token, body, headers = {} } = {}) {
    const init = { method, headers: { ...headers } };
    if (token) init.headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(baseUrl + path, init);
    } catch (err) {
      // fetch hides why (CORS refusal and network errors look the same to a page); the browser console says more.
      const error = new ApiError(0, 'network_error', `The browser refused the answer or could not reach the API: ${err.message} (CORS or network; the browser's console says which)`);
      onCall({ method, path, error });
      throw error;
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = { message: text };
    }
    if (!response.ok) {
      const error = new ApiError(response.status, data?.code ?? '(none)', data?.message ?? response.statusText);
      onCall({ method, path, status: response.status, error });
      throw error;
    }
    const result = { status: response.status, data, headers: response.headers };
    onCall({ method, path, status: response.status });
    return result;
  }
  return call;
}
