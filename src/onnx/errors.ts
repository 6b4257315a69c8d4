// Build-time graph errors that name the node and the shapes involved.
export class GraphError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GraphError';
  }
}
