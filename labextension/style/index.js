import './base.css';
import './notebooks.css';
